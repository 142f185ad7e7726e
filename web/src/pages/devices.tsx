import { Fragment, useCallback, useEffect, useRef, useState } from 'react';
import { api, enc, withQuery, type ChannelJson, type DeviceJson, type HoldJson } from '../api.js';
import { Badge, Card, ConfirmDialog, Empty, ErrorBox, Form, Loading, Pager, Time } from '../components.js';
import { useAction, useApi, useCan, useConfirmed, useDebounced, usePaged } from '../hooks.js';
import { AppHeader } from './app-nav.js';
import { DeviceLive } from './device-live.js';

/**
 * The app's devices, most recently seen first: search, filter, pin one to a channel. Above them,
 * the versions held back from devices that failed them, each of which can be cleared.
 */
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
  const holds = useApi<{ items: HoldJson[] }>(`/apps/${enc(appId)}/holds`);
  // Bumped when a hold is cleared, here or in a device's detail: both lists reload.
  const [holdsChanged, setHoldsChanged] = useState(0);
  const reloadHolds = holds.reload;
  const holdsCleared = useCallback(() => {
    reloadHolds();
    setHoldsChanged((value) => value + 1);
  }, [reloadHolds]);
  const showDevice = (deviceId: string) => {
    setSearch(deviceId);
    setOpen(deviceId);
  };

  return (
    <div className="page">
      <AppHeader appId={appId} tab="devices" />
      <Card title="Held back" className="holds-card">
        <p className="muted">
          Versions a device failed to start (it rolled them back) or to download {DOWNLOAD_FAILURES_TO_HOLD}{' '}
          times: they are not offered to it again until the next release, or until the hold is cleared.
        </p>
        <ErrorBox error={holds.error} />
        {holds.loading && !holds.data && <Loading />}
        {holds.data && (
          <HoldsTable
            appId={appId}
            holds={holds.data.items}
            onCleared={holdsCleared}
            onShowDevice={showDevice}
            empty="No device is held back from a version."
          />
        )}
      </Card>
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
                            holdsChanged={holdsChanged}
                            onHoldsCleared={holdsCleared}
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
  /** Changes when a hold was cleared elsewhere on the page. */
  holdsChanged: number;
  onHoldsCleared(): void;
}) {
  const { device } = props;
  const can = useCan();
  const holds = useApi<{ items: HoldJson[] }>(
    withQuery(`/apps/${enc(props.appId)}/holds`, { device: device.device_id }),
  );
  const reloadHolds = holds.reload;
  const mounted = useRef(false);
  useEffect(() => {
    if (mounted.current) reloadHolds();
    mounted.current = true;
  }, [props.holdsChanged, reloadHolds]);
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
      <DeviceLive appId={props.appId} deviceId={device.device_id} />
      <h3 className="detail-head">Held back</h3>
      <ErrorBox error={holds.error} />
      {holds.data && (
        <HoldsTable
          appId={props.appId}
          holds={holds.data.items}
          onCleared={props.onHoldsCleared}
          empty="No version is held back from this device."
        />
      )}
    </div>
  );
}

/** Failed downloads of one version before the server holds it back (src/db/holds.ts). */
const DOWNLOAD_FAILURES_TO_HOLD = 3;

/** What the device last reported about a held version, in words. */
const HOLD_ACTIONS: Record<string, string> = {
  update_fail: 'rolled back',
  app_launch_timeout: 'did not start in time',
  download_fail: 'download failed',
};

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * Held versions (device, version, why, since when), each with a "Clear" button for publishers;
 * failures that do not hold a version back yet are only counted.
 */
function HoldsTable(props: {
  appId: string;
  holds: HoldJson[];
  empty: string;
  onCleared(): void;
  /** Given on the app-wide list: the device column, whose id opens the device below. */
  onShowDevice?(deviceId: string): void;
}) {
  const can = useCan();
  const action = useConfirmed(
    (hold: HoldJson) =>
      api<{ cleared: number }>(
        'DELETE',
        withQuery(`/apps/${enc(props.appId)}/devices/${enc(hold.device_id)}/holds`, {
          version: hold.version,
        }),
      ),
    props.onCleared,
  );
  const clearing = action.target;
  const held = props.holds.filter((hold) => hold.held);
  const watched = props.holds.length - held.length;
  const showDevice = props.onShowDevice;
  return (
    <>
      {held.length === 0 && <Empty>{props.empty}</Empty>}
      {held.length > 0 && (
        <div className="table-wrap">
          <table className="holds">
            <thead>
              <tr>
                {showDevice && <th>Device</th>}
                <th>Version</th>
                <th>Why</th>
                <th className="hide-sm">Since</th>
                {can.publish && <th />}
              </tr>
            </thead>
            <tbody>
              {held.map((hold) => (
                <tr key={`${hold.device_id}@${hold.version}`} data-device={hold.device_id}>
                  {showDevice && (
                    <td>
                      <button
                        type="button"
                        className="linklike"
                        title="Show this device"
                        onClick={() => showDevice(hold.device_id)}
                      >
                        <code className="wrap">{hold.device_id}</code>
                      </button>
                    </td>
                  )}
                  <td>{hold.version}</td>
                  <td>
                    <strong>{HOLD_ACTIONS[hold.last_action] ?? hold.last_action}</strong>{' '}
                    <code className="subtle hide-sm">{hold.last_action}</code>
                    <div className="muted">
                      {[
                        hold.install_failures > 0 && plural(hold.install_failures, 'install failure'),
                        hold.download_failures > 0 && plural(hold.download_failures, 'download failure'),
                      ]
                        .filter(Boolean)
                        .join(' · ')}
                    </div>
                    <div className="muted show-sm">
                      since <Time at={hold.first_at} />
                    </div>
                  </td>
                  <td className="hide-sm">
                    <Time at={hold.first_at} />
                    {hold.last_at !== hold.first_at && (
                      <div className="muted">
                        last <Time at={hold.last_at} />
                      </div>
                    )}
                  </td>
                  {can.publish && (
                    <td className="row-actions">
                      <button
                        type="button"
                        className="secondary small"
                        aria-label={`Clear hold of ${hold.version} on ${hold.device_id}`}
                        onClick={() => action.ask(hold)}
                      >
                        Clear
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {watched > 0 && (
        <p className="muted">
          {plural(watched, 'other version')} failed to download fewer than {DOWNLOAD_FAILURES_TO_HOLD} times:
          not held back yet.
        </p>
      )}
      {clearing && (
        <ConfirmDialog
          title={`Clear the hold on ${clearing.version}?`}
          confirmLabel="Clear hold"
          {...action.dialog}
        >
          <p>
            Device <code className="wrap">{clearing.device_id}</code> will be offered {clearing.version} again
            at its next update check, if its channel still serves it. If it fails again, it is held back
            again.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
