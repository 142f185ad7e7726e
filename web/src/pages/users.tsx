import { useState } from 'react';
import { api, enc, type UserJson } from '../api.js';
import {
  Badge,
  Card,
  ConfirmDialog,
  Empty,
  ErrorBox,
  Form,
  Loading,
  Notice,
  TextField,
  Time,
} from '../components.js';
import { useAction, useApi, useConfirmed, useSession } from '../hooks.js';
import { RolesBadge, useRolesPicker } from './roles.js';

const nameOf = (user: UserJson) => user.username;

/** The people who sign in to the dashboard (server admins only): list, create, change roles, delete. */
export function UsersPage() {
  const users = useApi<{ items: UserJson[] }>('/users');
  const { user: me } = useSession();
  const [created, setCreated] = useState<string | null>(null);
  const remove = useConfirmed((name: string) => api('DELETE', `/users/${enc(name)}`), users.reload);
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Users</h1>
      </div>
      <CreateUser
        onCreated={(name) => {
          setCreated(name);
          users.reload();
        }}
      />
      {created && <Notice>User {created} created: they can sign in now.</Notice>}
      <Card title="Users">
        <ErrorBox error={users.error} />
        {users.loading && !users.data && <Loading />}
        {users.data && users.data.items.length === 0 && <Empty>No users yet.</Empty>}
        {users.data && users.data.items.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>User name</th>
                  <th>Roles</th>
                  <th className="hide-sm">Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {users.data.items.map((user) => (
                  <tr key={nameOf(user)}>
                    <td>
                      {nameOf(user)} {me.kind !== 'token' && nameOf(user) === me.name && <Badge>you</Badge>}
                    </td>
                    <td>
                      <RolesBadge roles={user.roles} />
                    </td>
                    <td className="hide-sm">
                      <Time at={user.created_at} />
                    </td>
                    <td className="row-actions">
                      <button
                        type="button"
                        className="secondary small"
                        onClick={() => setEditing(nameOf(user))}
                      >
                        Change roles
                      </button>{' '}
                      <button type="button" className="danger small" onClick={() => remove.ask(nameOf(user))}>
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {editing !== null && (
        <EditRoles
          username={editing}
          onDone={() => {
            setEditing(null);
            users.reload();
          }}
        />
      )}
      {remove.target !== null && (
        <ConfirmDialog
          title={`Delete user ${remove.target}?`}
          confirmLabel="Delete user"
          danger
          {...remove.dialog}
        >
          <p>They are signed out everywhere and can no longer sign in.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function CreateUser({ onCreated }: { onCreated(name: string): void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const picker = useRolesPicker('publish');
  const action = useAction();
  const submit = () =>
    void action
      .run(() => api('POST', '/users', { username: username.trim(), password, roles: picker.value }))
      .then((answer) => {
        if (answer === undefined) return;
        onCreated(username.trim());
        setUsername('');
        setPassword('');
      });
  return (
    <Card title="New user">
      <Form onSubmit={submit} className="grid-form" label="New user">
        <TextField
          label="User name"
          name="new-username"
          autoComplete="off"
          required
          value={username}
          onChange={setUsername}
        />
        <TextField
          label="Password"
          name="new-password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={setPassword}
        />
        {picker.fields}
        <ErrorBox error={action.error} />
        <div className="actions span-all">
          <button type="submit" disabled={action.pending}>
            Create user
          </button>
        </div>
      </Form>
    </Card>
  );
}

/** Replaces a user's roles (PATCH /users/NAME); they apply at the user's next request. */
function EditRoles({ username, onDone }: { username: string; onDone(): void }) {
  const picker = useRolesPicker('read');
  const action = useAction();
  const submit = () =>
    void action
      .run(() => api('PATCH', `/users/${enc(username)}`, { roles: picker.value }))
      .then((answer) => {
        if (answer !== undefined) onDone();
      });
  return (
    <Card title={`Roles of ${username}`}>
      <Form onSubmit={submit} className="grid-form" label={`Roles of ${username}`}>
        {picker.fields}
        <ErrorBox error={action.error} />
        <div className="actions span-all">
          <button type="submit" disabled={action.pending}>
            Save roles
          </button>
        </div>
      </Form>
    </Card>
  );
}
