import { Fragment, useState } from 'react';
import { api, enc, withQuery, type ChannelJson, type DeviceJson } from '../api.js';
import { Badge, Card, Empty, ErrorBox, Form, Pager, Time } from '../components.js';
import { useAction, useApi, useCan, useDebounced, usePaged } from '../hooks.js';
import { AppHeader } from './app-nav.js';

/** The app's devices, most recently seen first: search, filter, pin one to a channel. */
export function DevicesPage({ appId }: { appId: string }) {
  const [search, setSearch] = useState('');
  const [channel, setChannel] = useState('');
  const [platform, setPlatform] = useState('');
  const q = useDebounced(search.trim());
  const devices = usePaged<DeviceJson>(
    withQuery(`/apps/${enc(appId)}/devices`, { q, channel, platform }),
    50,
  );
  const channels = useApi<{ items: ChannelJson[] }>(`/apps/${enc(appId)}/channels`);
  const [open, setOpen] = useState<string | null>(null);

  return (
    <div className="page">
      <AppHeader appId={appId} tab="devices" />
      <Card>
        <div className="filters">
          <input
            type="search"
            name="q"
            aria-label="Search devices"
            placeholder="Search by device id or custom id"
            value={search}
            onChange={(event) => setSearch(event.target.value)}
          />
          <select aria-label="Channel" value={channel} onChange={(event) => setChannel(event.target.value)}>
            <option value="">All channels</option>
            {(channels.data?.items ?? []).map((item) => (
              <option key={item.name} value={item.name}>
                {item.name}
              </option>
            ))}
          </select>
          <select
            aria-label="Platform"
            value={platform}
            onChange={(event) => setPlatform(event.target.value)}
          >
            <option value="">All platforms</option>
            <option value="ios">iOS</option>
            <option value="android">Android</option>
            <option value="electron">Electron</option>
          </select>
        </div>
        {!devices.loading && !devices.error && devices.items.length === 0 && (
          <Empty>
            {q || channel || platform
              ? 'No device matches.'
              : 'No device has checked in yet: devices appear at their first update check.'}
          </Empty>
        )}
        {devices.items.length > 0 && (
          <div className="table-wrap">
            <table className="devices">
              <thead>
                <tr>
                  <th>Device</th>
                  <th>Version</th>
                  <th>Channel</th>
                  <th className="hide-sm">Platform</th>
                  <th className="hide-sm">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {devices.items.map((device) => (
                  <Fragment key={device.device_id}>
                    <tr
                      className="clickable"
                      aria-expanded={open === device.device_id}
                      onClick={() => setOpen(open === device.device_id ? null : device.device_id)}
                    >
                      <td>
                        <button type="button" className="linklike" aria-label={`Device ${device.device_id}`}>
                          <code className="wrap">{device.device_id}</code>
                        </button>
                        {device.custom_id && <div className="muted">{device.custom_id}</div>}
                      </td>
                      <td>{device.version_name}</td>
                      <td>
                        {device.channel || <span className="muted">—</span>}{' '}
                        {device.channel_override && <Badge tone="warn">pinned</Badge>}
                      </td>
                      <td className="hide-sm">{device.platform}</td>
                      <td className="hide-sm">
                        <Time at={device.last_seen} />
                      </td>
                    </tr>
                    {open === device.device_id && (
                      <tr className="detail-row">
                        <td colSpan={5}>
                          <DeviceDetail
                            appId={appId}
                            device={device}
                            channels={channels.data?.items ?? []}
                            onChanged={devices.reload}
                          />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager paged={devices} />
      </Card>
    </div>
  );
}

function DeviceDetail(props: {
  appId: string;
  device: DeviceJson;
  channels: ChannelJson[];
  onChanged(): void;
}) {
  const { device } = props;
  const can = useCan();
  const [target, setTarget] = useState(device.channel_override ?? props.channels[0]?.name ?? '');
  const action = useAction();
  const route = `/apps/${enc(props.appId)}/devices/${enc(device.device_id)}/channel`;
  const pin = () =>
    void action
      .run(() => api<DeviceJson>('PUT', route, { channel: target }))
      .then((answer) => {
        if (answer) props.onChanged();
      });
  const unpin = () =>
    void action
      .run(() => api<DeviceJson>('DELETE', route))
      .then((answer) => {
        if (answer) props.onChanged();
      });
  return (
    <div className="device-detail">
      <dl className="details">
        <dt>Platform</dt>
        <dd>
          {device.platform} {device.version_os && <span className="muted">{device.version_os}</span>}
          {device.is_emulator && <Badge>emulator</Badge>} {!device.is_prod && <Badge>dev build</Badge>}
        </dd>
        <dt>Native build</dt>
        <dd>
          {device.version_build || '—'}{' '}
          {device.version_code && <span className="muted">({device.version_code})</span>}
        </dd>
        <dt>Plugin</dt>
        <dd>{device.plugin_version || '—'}</dd>
        <dt>Channel</dt>
        <dd>
          {device.channel || '—'}
          {device.requested_channel && device.requested_channel !== device.channel && (
            <span className="muted"> (asks for {device.requested_channel})</span>
          )}
          {device.self_assigned_channel && (
            <span className="muted"> (chose {device.self_assigned_channel})</span>
          )}
        </dd>
        <dt>First seen</dt>
        <dd>
          <Time at={device.first_seen} />
        </dd>
      </dl>
      {can.publish && (
        <Form onSubmit={pin} className="inline-form" label="Channel override">
          <span className="field-label">Pin to channel</span>
          <select
            aria-label="Override channel"
            value={target}
            onChange={(event) => setTarget(event.target.value)}
          >
            {props.channels.map((channel) => (
              <option key={channel.name} value={channel.name}>
                {channel.name}
              </option>
            ))}
          </select>
          <button type="submit" className="small" disabled={action.pending || !target}>
            Pin
          </button>
          {device.channel_override && (
            <button type="button" className="secondary small" disabled={action.pending} onClick={unpin}>
              Remove pin ({device.channel_override})
            </button>
          )}
          <ErrorBox error={action.error} />
        </Form>
      )}
    </div>
  );
}
