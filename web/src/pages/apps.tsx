import { useState } from 'react';
import { api, type AppJson } from '../api.js';
import { Card, Empty, ErrorBox, Field, Form, Loading, Time } from '../components.js';
import { useAction, useApi, useCan } from '../hooks.js';
import { Link, navigate, path } from '../router.js';

/** Every app on the server; admins can create one. */
export function AppsPage() {
  const apps = useApi<{ items: AppJson[] }>('/apps');
  const can = useCan();
  const [creating, setCreating] = useState(false);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Apps</h1>
        {can.serverAdmin && !creating && (
          <button type="button" onClick={() => setCreating(true)}>
            New app
          </button>
        )}
      </div>
      {creating && <CreateApp onCancel={() => setCreating(false)} />}
      <ErrorBox error={apps.error} />
      {apps.loading && !apps.data && <Loading />}
      {apps.data && apps.data.items.length === 0 && (
        <Empty>
          No apps yet.{' '}
          {can.serverAdmin ? 'Create one with the button above, or' : 'A server admin can create one, or use'}{' '}
          <code>overair app create</code>.
        </Empty>
      )}
      {apps.data && apps.data.items.length > 0 && (
        <ul className="tiles">
          {apps.data.items.map((app) => (
            <li key={app.id}>
              <Link to={path('apps', app.id)} className="tile">
                <strong>{app.name}</strong>
                <code>{app.id}</code>
                <span className="muted">
                  Created <Time at={app.created_at} />
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function CreateApp({ onCancel }: { onCancel(): void }) {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [channel, setChannel] = useState('production');
  const action = useAction();
  const submit = () =>
    void action
      .run(() =>
        api<AppJson>('POST', '/apps', {
          id: id.trim(),
          ...(name.trim() && { name: name.trim() }),
          default_channel: channel.trim() === '' ? null : channel.trim(),
        }),
      )
      .then((app) => {
        if (app) navigate(path('apps', app.id));
      });
  return (
    <Card title="New app">
      <Form onSubmit={submit} className="grid-form" label="New app">
        <Field label="App id" hint="As in capacitor.config: com.example.app">
          <input
            name="id"
            required
            autoFocus
            placeholder="com.example.app"
            value={id}
            onChange={(event) => setId(event.target.value)}
          />
        </Field>
        <Field label="Name">
          <input
            name="name"
            placeholder="Example"
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
        </Field>
        <Field label="Default channel" hint="Leave empty for none.">
          <input
            name="default_channel"
            value={channel}
            onChange={(event) => setChannel(event.target.value)}
          />
        </Field>
        <ErrorBox error={action.error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" disabled={action.pending}>
            Create app
          </button>
        </div>
      </Form>
    </Card>
  );
}
