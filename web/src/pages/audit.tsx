import { useState } from 'react';
import { withQuery, type AppJson, type AuditJson } from '../api.js';
import { Card, Empty, Pager, Time } from '../components.js';
import { useApi, usePaged } from '../hooks.js';

const REQUEST = 'http.request';

/** Every change, and every API request, newest first. */
export function AuditPage() {
  const [app, setApp] = useState('');
  const [requests, setRequests] = useState(false);
  const apps = useApi<{ items: AppJson[] }>('/apps');
  const audit = usePaged<AuditJson>(withQuery('/audit', { app }), 100);
  const shown = requests ? audit.items : audit.items.filter((entry) => entry.action !== REQUEST);
  const hidden = audit.items.length - shown.length;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Audit log</h1>
      </div>
      <Card>
        <div className="filters">
          <select aria-label="App" value={app} onChange={(event) => setApp(event.target.value)}>
            <option value="">All apps</option>
            {(apps.data?.items ?? []).map((item) => (
              <option key={item.id} value={item.id}>
                {item.name} ({item.id})
              </option>
            ))}
          </select>
          <label className="check">
            <input
              type="checkbox"
              checked={requests}
              onChange={(event) => setRequests(event.target.checked)}
            />
            Show API requests
          </label>
        </div>
        {!audit.loading && shown.length === 0 && (
          <Empty>No entries{hidden > 0 ? ' besides API requests' : ''}.</Empty>
        )}
        {shown.length > 0 && (
          <div className="table-wrap">
            <table className="audit">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Who</th>
                  <th>What</th>
                  <th className="hide-sm">Details</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((entry) => (
                  <tr key={entry.id}>
                    <td>
                      <Time at={entry.at} />
                    </td>
                    <td>{entry.actor}</td>
                    <td>
                      <code>{entry.action}</code>
                      {entry.target && <div className="muted wrap">{entry.target}</div>}
                      {entry.app_id && !entry.target?.includes(entry.app_id) && (
                        <div className="muted">{entry.app_id}</div>
                      )}
                    </td>
                    <td className="hide-sm">
                      {entry.detail !== null && (
                        <code className="detail wrap">{JSON.stringify(entry.detail)}</code>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {hidden > 0 && (
          <p className="muted">
            {hidden} API request{hidden === 1 ? '' : 's'} hidden on the pages loaded.
          </p>
        )}
        <Pager paged={audit} />
      </Card>
    </div>
  );
}
