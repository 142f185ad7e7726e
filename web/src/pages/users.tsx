import { useState } from 'react';
import { api, enc, type RolesJson, type UserJson } from '../api.js';
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
          key={editing}
          username={editing}
          current={users.data?.items.find((user) => nameOf(user) === editing)?.roles}
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

/**
 * Edits a user's roles (PATCH /users/NAME replaces them all; they apply at the user's next request):
 * the roles they hold, each removable, and the picker adds one (on another app, or on all apps).
 */
function EditRoles({
  username,
  current,
  onDone,
}: {
  username: string;
  current: RolesJson | undefined;
  onDone(): void;
}) {
  const [roles, setRoles] = useState<RolesJson>(current ?? { server_admin: false, all: null, apps: {} });
  const picker = useRolesPicker('read');
  const action = useAction();
  const add = () => {
    const choice = picker.value;
    setRoles((held) =>
      'server_admin' in choice
        ? { ...held, server_admin: true }
        : 'all' in choice
          ? { ...held, all: choice.all }
          : { ...held, apps: { ...held.apps, ...choice.apps } },
    );
  };
  const without = (app: string) =>
    setRoles((held) => ({
      ...held,
      apps: Object.fromEntries(Object.entries(held.apps).filter(([id]) => id !== app)),
    }));
  const save = () =>
    void action
      .run(() => api('PATCH', `/users/${enc(username)}`, { roles }))
      .then((answer) => {
        if (answer !== undefined) onDone();
      });
  /** What the user will hold, each as [key, words, remove]. */
  const held: [string, string, () => void][] = [];
  if (roles.server_admin)
    held.push(['server', 'server admin', () => setRoles((r) => ({ ...r, server_admin: false }))]);
  if (roles.all !== null)
    held.push(['all', `${roles.all} on all apps`, () => setRoles((r) => ({ ...r, all: null }))]);
  for (const [app, role] of Object.entries(roles.apps))
    held.push([app, `${role} on ${app}`, () => without(app)]);
  return (
    <Card title={`Roles of ${username}`}>
      <ul className="stack" aria-label={`Roles of ${username}`}>
        {held.length === 0 && <li className="muted">No role: they see no app.</li>}
        {held.map(([key, label, drop]) => (
          <li key={key}>
            <Badge tone={key === 'server' || label.startsWith('admin') ? 'warn' : 'plain'}>{label}</Badge>{' '}
            <button type="button" className="secondary small" onClick={drop}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <Form onSubmit={add} className="grid-form" label={`Add a role to ${username}`}>
        {picker.fields}
        <div className="actions span-all">
          <button type="submit" className="secondary">
            Add
          </button>
          <button type="button" disabled={action.pending} onClick={save}>
            Save roles
          </button>
        </div>
      </Form>
      <ErrorBox error={action.error} />
    </Card>
  );
}
