import { useState } from 'react';
import { api, type TokenJson } from '../api.js';
import {
  Card,
  ConfirmDialog,
  Empty,
  ErrorBox,
  Form,
  Loading,
  Secret,
  TextField,
  Time,
} from '../components.js';
import { useAction, useApi, useConfirmed } from '../hooks.js';
import { RolesBadge, useRolesPicker } from './roles.js';

/**
 * API tokens for CI and the CLI: list, create (the secret is shown once), revoke. A server admin sees
 * every token; an app's admin those limited to the apps they administer, and gives roles on those.
 */
export function TokensPage() {
  const tokens = useApi<{ items: TokenJson[] }>('/tokens');
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const revoke = useConfirmed((token: TokenJson) => api('DELETE', `/tokens/${token.id}`), tokens.reload);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Tokens</h1>
      </div>
      <p className="muted">
        Tokens authenticate the CLI and CI pipelines (<code>Authorization: Bearer …</code>). The server keeps
        only their hash. Give each the least it needs: a CI pipeline <em>publish</em> on its own app.
      </p>
      <CreateToken
        onCreated={(answer) => {
          setCreated(answer);
          tokens.reload();
        }}
      />
      {created && (
        <Secret value={created.token}>
          Token <strong>{created.name}</strong> created. Copy it now: it is not shown again.
        </Secret>
      )}
      <Card title="Tokens">
        <ErrorBox error={tokens.error} />
        {tokens.loading && !tokens.data && <Loading />}
        {tokens.data && tokens.data.items.length === 0 && <Empty>No tokens.</Empty>}
        {tokens.data && tokens.data.items.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Roles</th>
                  <th className="hide-sm">Created</th>
                  <th className="hide-sm">Last used</th>
                  <th className="hide-sm">Expires</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {tokens.data.items.map((token) => (
                  <tr key={token.id}>
                    <td>{token.name}</td>
                    <td>
                      <RolesBadge roles={token.roles} />
                    </td>
                    <td className="hide-sm">
                      <Time at={token.created_at} />
                    </td>
                    <td className="hide-sm">
                      <Time at={token.last_used_at} />
                    </td>
                    <td className="hide-sm">
                      {token.expires_at ? (
                        <Time at={token.expires_at} />
                      ) : (
                        <span className="muted">never</span>
                      )}
                    </td>
                    <td className="row-actions">
                      <button type="button" className="danger small" onClick={() => revoke.ask(token)}>
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {revoke.target && (
        <ConfirmDialog
          title={`Revoke token "${revoke.target.name}"?`}
          confirmLabel="Revoke"
          danger
          {...revoke.dialog}
        >
          <p>Whatever uses it (a CI pipeline, a CLI login) is refused from now on.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function CreateToken({ onCreated }: { onCreated(answer: { name: string; token: string }): void }) {
  const [name, setName] = useState('');
  const picker = useRolesPicker('publish');
  const [days, setDays] = useState('');
  const action = useAction();
  const submit = () =>
    void action
      .run(() =>
        api<TokenJson & { token: string }>('POST', '/tokens', {
          name: name.trim(),
          roles: picker.value,
          ...(days.trim() && { expires_in_days: Number(days) }),
        }),
      )
      .then((answer) => {
        if (!answer) return;
        setName('');
        setDays('');
        onCreated({ name: answer.name, token: answer.token });
      });
  return (
    <Card title="New token">
      <Form onSubmit={submit} className="grid-form" label="New token">
        <TextField
          label="Name"
          name="name"
          required
          placeholder="ci-release"
          value={name}
          onChange={setName}
        />
        {picker.fields}
        <TextField
          label="Expires in (days)"
          hint="Empty: never."
          name="expires_in_days"
          inputMode="numeric"
          placeholder="never"
          value={days}
          onChange={setDays}
        />
        <ErrorBox error={action.error} />
        <div className="actions span-all">
          <button type="submit" disabled={action.pending}>
            Create token
          </button>
        </div>
      </Form>
    </Card>
  );
}
