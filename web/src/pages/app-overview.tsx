import { useEffect, useState } from 'react';
import {
  api,
  enc,
  withQuery,
  type ChannelJson,
  type HistoryJson,
  type Page,
  type StatsJson,
  type VersionStatsJson,
} from '../api.js';
import {
  Badge,
  BarChart,
  Card,
  Empty,
  ErrorBox,
  Field,
  Form,
  formatPercent,
  Loading,
  Time,
} from '../components.js';
import { asApiError, useAction, useApi, useCan } from '../hooks.js';
import { Link, navigate, path } from '../router.js';
import { AppHeader } from './app-nav.js';
import { PendingRequests, ReleaseApprovalSetting } from './release-requests.js';

const PERIODS: [string, string][] = [
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
];

/**
 * An app at a glance: its channels, devices per version and per plugin version, failures per
 * release, recent changes.
 */
export function AppPage({ appId }: { appId: string }) {
  const channels = useApi<{ items: ChannelJson[] }>(`/apps/${enc(appId)}/channels`);
  const [period, setPeriod] = useState('7d');
  const stats = useApi<StatsJson>(withQuery(`/apps/${enc(appId)}/stats`, { since: period }));
  const live = new Set(
    (channels.data?.items ?? []).flatMap((channel) => [channel.version, channel.rollout?.version]),
  );

  return (
    <div className="page">
      <AppHeader appId={appId} tab="overview" />
      <div className="overview">
        <Card
          title="Channels"
          className="span-2"
          actions={<NewChannel appId={appId} onCreated={channels.reload} />}
        >
          <ErrorBox error={channels.error} />
          {channels.loading && !channels.data && <Loading />}
          {channels.data && <ChannelsTable appId={appId} channels={channels.data.items} />}
        </Card>

        <Card
          title="Devices per version"
          actions={
            <select aria-label="Period" value={period} onChange={(event) => setPeriod(event.target.value)}>
              {PERIODS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          }
        >
          <ErrorBox error={stats.error} />
          {stats.loading && !stats.data && <Loading />}
          {stats.data && <DevicesChart versions={stats.data.versions} live={live} />}
        </Card>

        <Card title="Plugin versions">
          {stats.data && <PluginChart plugins={stats.data.plugin_versions ?? []} />}
        </Card>

        <Card title="Failures per release" className="span-2">
          {stats.data && <FailureTable versions={stats.data.versions} appId={appId} />}
        </Card>

        <Card title="Recent changes" className="span-2">
          {channels.data && <RecentChanges appId={appId} channels={channels.data.items} />}
        </Card>

        <PendingRequests appId={appId} hideWhenEmpty onDecided={channels.reload} />
        <ReleaseApprovalSetting appId={appId} />
      </div>
    </div>
  );
}

function ChannelsTable({ appId, channels }: { appId: string; channels: ChannelJson[] }) {
  if (channels.length === 0) return <Empty>No channels yet: create one to release bundles.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Channel</th>
            <th>Live bundle</th>
            <th>Rollout</th>
            <th className="hide-sm">Serves</th>
            <th className="hide-sm">Changed</th>
          </tr>
        </thead>
        <tbody>
          {channels.map((channel) => (
            <tr key={channel.name}>
              <td>
                <Link to={path('apps', appId, 'channels', channel.name)}>{channel.name}</Link>{' '}
                {channel.is_default && <Badge>default</Badge>}{' '}
                {channel.protected && <Badge tone="warn">protected</Badge>}
              </td>
              <td>
                {channel.version ? (
                  <Link to={path('apps', appId, 'bundles', channel.version)}>{channel.version}</Link>
                ) : (
                  <span className="muted">none</span>
                )}
              </td>
              <td>
                {channel.rollout ? (
                  <RolloutMeter version={channel.rollout.version} percent={channel.rollout.percent} />
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td className="hide-sm">{describeTargets(channel)}</td>
              <td className="hide-sm">
                <Time at={channel.updated_at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function RolloutMeter({ version, percent }: { version: string; percent: number }) {
  return (
    <span className="rollout">
      <span>
        {version} to <strong>{percent}%</strong>
      </span>
      <span className="meter" aria-hidden="true">
        <span style={{ width: `${percent}%` }} />
      </span>
    </span>
  );
}

/** Which devices a channel serves, in a few words. */
function describeTargets(channel: ChannelJson): string {
  const parts = [channel.platforms.length === 0 ? 'all platforms' : channel.platforms.join(', ')];
  if (!channel.allow_prod) parts.push('no store builds');
  if (!channel.allow_dev) parts.push('no dev builds');
  if (!channel.allow_emulator) parts.push('no emulators');
  if (channel.allow_self_assign) parts.push('self-assign');
  return parts.join(' · ');
}

function DevicesChart({
  versions,
  live,
}: {
  versions: VersionStatsJson[];
  live: Set<string | null | undefined>;
}) {
  const running = versions.filter((version) => version.devices > 0);
  if (running.length === 0) return <Empty>No device has checked in yet.</Empty>;
  const total = running.reduce((sum, version) => sum + version.devices, 0);
  return (
    <>
      <p className="muted">
        {total.toLocaleString()} device{total === 1 ? '' : 's'}; live versions in blue.
      </p>
      <BarChart
        label="Devices per version"
        bars={running.map((version) => ({
          label: version.version,
          value: version.devices,
          highlight: live.has(version.version),
        }))}
      />
    </>
  );
}

/** Newest first: numeric parts compared as numbers ("8.51.23" after "8.9.0"), then by name. */
function compareVersionsDescending(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let index = 0; index < Math.max(pa.length, pb.length); index++) {
    const [x, y] = [pa[index] ?? '', pb[index] ?? ''];
    const [nx, ny] = [Number(x), Number(y)];
    const order =
      x !== '' && y !== '' && Number.isFinite(nx) && Number.isFinite(ny) ? ny - nx : y.localeCompare(x);
    if (order !== 0) return order;
  }
  return 0;
}

/** Devices per version of the updater plugin, from their last check-in: who still runs an old one. */
function PluginChart({ plugins }: { plugins: StatsJson['plugin_versions'] }) {
  if (plugins.length === 0) return <Empty>No device has reported its plugin version yet.</Empty>;
  const sorted = [...plugins].sort((a, b) => compareVersionsDescending(a.plugin_version, b.plugin_version));
  return (
    <>
      <p className="muted">Devices by the version of the updater plugin they last checked in with.</p>
      <BarChart
        label="Devices per plugin version"
        bars={sorted.map((plugin) => ({ label: plugin.plugin_version, value: plugin.devices }))}
      />
    </>
  );
}

/** Share of the devices that installed a release and then failed to start it (they rolled back). */
function installFailureRate(version: VersionStatsJson): number | null {
  const tried = Math.max(version.installs, version.install_failures);
  return tried === 0 ? null : version.install_failures / tried;
}

function FailureTable({ versions, appId }: { versions: VersionStatsJson[]; appId: string }) {
  const active = versions.filter(
    (version) =>
      version.downloads + version.installs + version.download_failures + version.install_failures > 0,
  );
  if (active.length === 0) return <Empty>No downloads or installs reported in this period.</Empty>;
  const rate = (value: number | null) => {
    if (value === null) return <span className="muted">—</span>;
    const tone = value >= 0.2 ? 'bad' : value >= 0.05 ? 'warn' : 'good';
    return <Badge tone={tone}>{formatPercent(value)}</Badge>;
  };
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Version</th>
            <th className="num">Installed</th>
            <th className="num" title="Devices that failed to start it and rolled back">
              Failed to start
            </th>
            <th className="num">Rate</th>
            <th className="num" title="Failed downloads, checksums, decryption or unzip, of all downloads">
              Failed downloads
            </th>
          </tr>
        </thead>
        <tbody>
          {active.map((version) => (
            <tr key={version.version}>
              <td>
                <Link to={path('apps', appId, 'bundles', version.version)}>{version.version}</Link>
              </td>
              <td className="num">{version.installs}</td>
              <td className="num">{version.install_failures}</td>
              <td className="num">{rate(installFailureRate(version))}</td>
              <td className="num">
                {version.download_failures}
                <span className="muted"> of {version.downloads + version.download_failures}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const HISTORY_PER_CHANNEL = 10;
const RECENT = 12;

function RecentChanges({ appId, channels }: { appId: string; channels: ChannelJson[] }) {
  const [items, setItems] = useState<HistoryJson[]>();
  const [error, setError] = useState<ReturnType<typeof asApiError>>();
  const key = channels.map((channel) => `${channel.name}@${channel.updated_at}`).join(',');
  useEffect(() => {
    let live = true;
    Promise.all(
      channels.map((channel) =>
        api<Page<HistoryJson>>(
          'GET',
          withQuery(`/apps/${enc(appId)}/channels/${enc(channel.name)}/history`, {
            limit: HISTORY_PER_CHANNEL,
          }),
        ),
      ),
    ).then(
      (pages) => {
        if (!live) return;
        const all = pages.flatMap((page) => page.items);
        all.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : b.id - a.id));
        setItems(all.slice(0, RECENT));
      },
      (failure: unknown) => live && setError(asApiError(failure)),
    );
    return () => {
      live = false;
    };
    // `key` stands for the channels: refetch when one of them changed.
  }, [appId, key]);
  if (error) return <ErrorBox error={error} />;
  if (!items) return <Loading />;
  if (items.length === 0) return <Empty>Nothing released yet.</Empty>;
  return (
    <ul className="events">
      {items.map((item) => (
        <HistoryItem key={`${item.channel}-${item.id}`} item={item} appId={appId} showChannel />
      ))}
    </ul>
  );
}

const ACTIONS: Record<string, string> = {
  set: 'made live',
  rollout: 'rollout',
  rollback: 'rolled back',
  halt: 'halted automatically',
  bundle_deleted: 'bundle deleted',
  bundle_edited: 'bundle corrected',
  schedule_cancelled: 'schedule cancelled',
};

export function HistoryItem({
  item,
  appId,
  showChannel,
}: {
  item: HistoryJson;
  appId: string;
  showChannel?: boolean;
}) {
  const version = (value: string | null) =>
    value ? (
      <Link to={path('apps', appId, 'bundles', value)}>{value}</Link>
    ) : (
      <span className="muted">none</span>
    );
  return (
    <li className={`event event-${item.action}`}>
      <span className="event-what">
        {showChannel && (
          <>
            <Link to={path('apps', appId, 'channels', item.channel)}>{item.channel}</Link>:{' '}
          </>
        )}
        <strong>{ACTIONS[item.action] ?? item.action}</strong>{' '}
        {item.action === 'rollback' || item.action === 'halt' || item.action === 'bundle_deleted' ? (
          <>
            {version(item.previous_version)} → {version(item.version)}
          </>
        ) : (
          version(item.version)
        )}
        {item.reason && <span className="muted"> — {item.reason}</span>}
      </span>
      <span className="event-when muted">
        <Time at={item.at} />
        {item.actor && <> by {item.actor}</>}
      </span>
    </li>
  );
}

function NewChannel({ appId, onCreated }: { appId: string; onCreated(): void }) {
  const can = useCan();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const action = useAction();
  if (!can.publish) return null;
  if (!open) {
    return (
      <button type="button" className="secondary small" onClick={() => setOpen(true)}>
        New channel
      </button>
    );
  }
  const submit = () =>
    void action
      .run(() => api<ChannelJson>('POST', `/apps/${enc(appId)}/channels`, { name: name.trim() }))
      .then((channel) => {
        if (!channel) return;
        onCreated();
        navigate(path('apps', appId, 'channels', channel.name));
      });
  return (
    <Form onSubmit={submit} className="inline-form" label="New channel">
      <Field label="Channel name" className="compact">
        <input
          name="channel"
          required
          autoFocus
          placeholder="beta"
          value={name}
          onChange={(event) => setName(event.target.value)}
        />
      </Field>
      <button type="submit" className="small" disabled={action.pending}>
        Create
      </button>
      <button type="button" className="secondary small" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <ErrorBox error={action.error} />
    </Form>
  );
}
