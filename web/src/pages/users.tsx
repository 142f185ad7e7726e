import { useState } from 'react';
import { api, enc, type Scope, type UserJson } from '../api.js';
import {
  Badge,
  Card,
  ConfirmDialog,
  Empty,
  ErrorBox,
  Field,
  Form,
  Loading,
  Notice,
  TextField,
  Time,
} from '../components.js';
import { useAction, useApi, useConfirmed, useSession } from '../hooks.js';

const nameOf = (user: UserJson) => user.username;

/** The people who sign in to the dashboard: list, create, delete. */
export function UsersPage() {
  const users = useApi<{ items: UserJson[] }>('/users');
  const { user: me } = useSession();
  const [created, setCreated] = useState<string | null>(null);
  const remove = useConfirmed((name: string) => api('DELETE', `/users/${enc(name)}`), users.reload);
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
                  <th>Scope</th>
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
                      <Badge tone={user.scope === 'admin' ? 'warn' : 'plain'}>{user.scope}</Badge>
                    </td>
                    <td className="hide-sm">
                      <Time at={user.created_at} />
                    </td>
                    <td className="row-actions">
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
  const [scope, setScope] = useState<Scope>('publish');
  const action = useAction();
  const submit = () =>
    void action
      .run(() => api('POST', '/users', { username: username.trim(), password, scope }))
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
        <Field label="Scope">
          <select name="scope" value={scope} onChange={(event) => setScope(event.target.value as Scope)}>
            <option value="read">read</option>
            <option value="publish">publish</option>
            <option value="admin">admin</option>
          </select>
        </Field>
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
