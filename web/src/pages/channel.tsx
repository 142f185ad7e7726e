import { useEffect, useState } from 'react';
import {
  api,
  enc,
  withQuery,
  type BundleJson,
  type ChannelJson,
  type CompatibilityJson,
  type HistoryJson,
  type Page,
  type ReleaseRequestJson,
  type RolloutScheduleJson,
} from '../api.js';
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
  Pager,
  TextField,
} from '../components.js';
import { useAction, useApi, useCan, useConfirmed, usePaged } from '../hooks.js';
import { Link, path } from '../router.js';
import { AppHeader } from './app-nav.js';
import { HistoryItem, RolloutMeter } from './app-overview.js';
import { PendingRequests } from './release-requests.js';
import { AdoptionCard, HealthCard } from './insight.js';

/** One channel: what it serves, release, staged rollout, roll back, its rules and its history. */
export function ChannelPage({ appId, channel: name }: { appId: string; channel: string }) {
  const route = `/apps/${enc(appId)}/channels/${enc(name)}`;
  const channel = useApi<ChannelJson>(route);
  const history = usePaged<HistoryJson>(`${route}/history`, 20);
  const bundles = useApi<Page<BundleJson>>(withQuery(`/apps/${enc(appId)}/bundles`, { limit: 100 }));
  const can = useCan();
  const [generation, setGeneration] = useState(0);
  const changed = () => {
    channel.reload();
    history.reload();
    setGeneration((previous) => previous + 1);
  };
  const c = channel.data;
  return (
    <div className="page">
      <AppHeader appId={appId} tab="channel" title={<>Channel {name}</>} />
      <ErrorBox error={channel.error} />
      {channel.loading && !c && <Loading />}
      {c && (
        <div className="overview">
          <Card title="Release">
            <dl className="details">
              <dt>Live bundle</dt>
              <dd data-testid="live-version">
                {c.version ? (
                  <Link to={path('apps', appId, 'bundles', c.version)}>{c.version}</Link>
                ) : (
                  <span className="muted">none</span>
                )}{' '}
                {c.is_default && <Badge>default channel</Badge>}{' '}
                {c.protected && <Badge tone="warn">protected</Badge>}
              </dd>
              <dt>Rollout</dt>
              <dd data-testid="rollout">
                {c.rollout ? (
                  <RolloutMeter version={c.rollout.version} percent={c.rollout.percent} />
                ) : (
                  <span className="muted">none in progress</span>
                )}
              </dd>
            </dl>
            {c.protected && !can.release && (
              <Notice>
                This channel is protected: making a bundle live and rollouts need the release role. On an app
                with four-eyes releases, yours becomes a request someone else approves. Rolling back is always
                possible.
              </Notice>
            )}
            {can.publish && (
              <>
                <Releaser
                  appId={appId}
                  route={route}
                  channel={c}
                  bundles={bundles.data?.items ?? []}
                  onDone={changed}
                />
                <Rollback route={route} channel={c} onDone={changed} />
              </>
            )}
          </Card>
          <Schedule
            route={route}
            channel={c}
            bundles={bundles.data?.items ?? []}
            editable={can.publish && (!c.protected || can.release)}
            onChanged={changed}
          />
          <Rules
            route={route}
            channel={c}
            editable={can.publish && (!c.protected || can.release)}
            onSaved={changed}
          />
          <PendingRequests
            appId={appId}
            channel={name}
            generation={generation}
            hideWhenEmpty={!c.protected}
            onDecided={changed}
          />
          <AdoptionCard appId={appId} channel={name} />
          <HealthCard key={`${c.version}:${c.rollout?.version ?? ''}`} appId={appId} channel={name} />
          <Card title="History" className="span-2">
            {!history.loading && history.items.length === 0 && (
              <Empty>Nothing released on this channel yet.</Empty>
            )}
            <ul className="events">
              {history.items.map((item) => (
                <HistoryItem key={item.id} item={item} appId={appId} />
              ))}
            </ul>
            <Pager paged={history} />
          </Card>
        </div>
      )}
    </div>
  );
}

/** Make a bundle live, or roll it out to a share of the devices with a slider. */
function Releaser(props: {
  appId: string;
  route: string;
  channel: ChannelJson;
  bundles: BundleJson[];
  onDone(): void;
}) {
  const { channel, bundles } = props;
  const candidates = bundles.filter((bundle) => bundle.version !== channel.version);
  const initial = channel.rollout?.version ?? candidates[0]?.version ?? '';
  const [version, setVersion] = useState(initial);
  const [percent, setPercent] = useState(channel.rollout?.percent ?? 10);
  const action = useAction();
  const [done, setDone] = useState<string | null>(null);
  useEffect(() => {
    if (!version && initial) setVersion(initial);
  }, [initial, version]);

  if (bundles.length === 0) {
    return <p className="muted">Upload a bundle to release it on this channel.</p>;
  }
  const release = (kind: 'live' | 'rollout') =>
    void action
      .run(() =>
        kind === 'live'
          ? api<ChannelJson | ReleaseRequestJson>('PUT', `${props.route}/bundle`, { version })
          : api<ChannelJson | ReleaseRequestJson>('POST', `${props.route}/rollout`, { version, percent }),
      )
      .then((answer) => {
        if (!answer) return;
        // A protected channel of an app with four-eyes releases: 202 with the request made.
        if ('requested_by' in answer) {
          setDone(`Release request #${answer.id} waits for approval by someone with the release role.`);
          props.onDone();
          return;
        }
        setDone(
          kind === 'live'
            ? `${version} is live.`
            : answer.rollout
              ? `${version} goes to ${answer.rollout.percent}% of the devices.`
              : `${version} is live on every device.`,
        );
        props.onDone();
      });
  return (
    <Form onSubmit={() => release('rollout')} className="stack release" label="Release">
      <Field label="Bundle">
        <select name="version" value={version} onChange={(event) => setVersion(event.target.value)}>
          {bundles.map((bundle) => (
            <option key={bundle.id} value={bundle.version}>
              {bundle.version}
              {bundle.version === channel.version ? ' (live)' : ''}
            </option>
          ))}
        </select>
      </Field>
      {version && <Compatibility appId={props.appId} channel={channel.name} version={version} />}
      <Field label={`Rollout: ${percent}% of the channel's devices`}>
        <input
          type="range"
          name="percent"
          min={1}
          max={100}
          step={1}
          value={percent}
          onChange={(event) => setPercent(Number(event.target.value))}
        />
      </Field>
      <div className="actions">
        <button
          type="button"
          className="secondary"
          disabled={action.pending || !version}
          onClick={() => release('live')}
        >
          Make live for all
        </button>
        <button type="submit" disabled={action.pending || !version}>
          Roll out to {percent}%
        </button>
      </div>
      {done && (
        <p className="ok" role="status">
          {done}
        </p>
      )}
      <ErrorBox error={action.error} />
    </Form>
  );
}

/**
 * Before a release: the bundle against every registered binary (the native compatibility gate), and
 * how many of the channel's devices seen in 30 days it would reach and refuse.
 */
function Compatibility(props: { appId: string; channel: string; version: string }) {
  const report = useApi<CompatibilityJson>(
    withQuery(`/apps/${enc(props.appId)}/bundles/${enc(props.version)}/compatibility`, {
      channel: props.channel,
    }),
  );
  const r = report.data;
  if (report.error) return <ErrorBox error={report.error} />;
  if (!r || r.version !== props.version) return <Loading what="Checking native compatibility" />;
  const label = (b: CompatibilityJson['binaries'][number]) =>
    `${b.platform} ${b.version}${b.version_code === null ? '' : ` (${b.version_code})`}`;
  const unregistered = r.unregistered.reduce((sum, group) => sum + group.devices, 0);
  return (
    <div className="compatibility" data-testid="compatibility">
      {!r.native_layer ? (
        <p className="muted">Native layer of {r.version} unknown: it is served to every binary.</p>
      ) : r.binaries.length === 0 ? (
        <p className="muted">No binary is registered: every device is served.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Binary</th>
                <th>Devices (30 days)</th>
                <th>Native compatibility</th>
              </tr>
            </thead>
            <tbody>
              {r.binaries.map((b) => (
                <tr key={label(b)}>
                  <td>{label(b)}</td>
                  <td>{b.devices}</td>
                  <td>
                    {b.compatible ? (
                      <Badge tone="good">compatible</Badge>
                    ) : (
                      <>
                        <Badge tone="bad">refused</Badge> {b.problems.join('; ')}
                      </>
                    )}
                  </td>
                </tr>
              ))}
              {unregistered > 0 && (
                <tr>
                  <td>unregistered binaries</td>
                  <td>{unregistered}</td>
                  <td>
                    {r.unregistered_binaries === 'refuse' ? (
                      <Badge tone="bad">refused</Badge>
                    ) : (
                      <Badge>served</Badge>
                    )}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {r.devices.refused > 0 ? (
        <Notice>
          {r.version} would reach {r.devices.reached} and be refused to {r.devices.refused} of the{' '}
          {r.devices.total} devices seen on this channel in 30 days.
        </Notice>
      ) : (
        <p className="muted">
          {r.version} would reach all {r.devices.total} devices seen on this channel in 30 days.
        </p>
      )}
    </div>
  );
}

/** A time for people, in the browser's zone: `Mar 1, 10:00`. */
const when = (at: string) =>
  new Date(at).toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });

/** How long a step lasts, as the steps are written: 90m, 6h, 1d. */
const lasting = (seconds: number) =>
  seconds % 86_400 === 0
    ? `${seconds / 86_400}d`
    : seconds % 3600 === 0
      ? `${seconds / 3600}h`
      : seconds % 60 === 0
        ? `${seconds / 60}m`
        : `${seconds}s`;

/**
 * The scheduled rollout (docs/release-control.md#scheduled-rollouts): its steps with the current one
 * marked, when the next may start, how it ended; cancel it, or start one.
 */
function Schedule(props: {
  route: string;
  channel: ChannelJson;
  bundles: BundleJson[];
  editable: boolean;
  onChanged(): void;
}) {
  const schedule = useApi<RolloutScheduleJson>(`${props.route}/schedule`);
  const changed = () => {
    schedule.reload();
    props.onChanged();
  };
  const cancel = useConfirmed<true>(
    () => api<RolloutScheduleJson>('DELETE', `${props.route}/schedule`),
    changed,
  );
  const s = schedule.data;
  // 404: the channel never had a schedule, which is no error to show.
  const failed = schedule.error && schedule.error.status !== 404 ? schedule.error : undefined;
  return (
    <Card title="Scheduled rollout">
      <ErrorBox error={failed} />
      {!s && !schedule.loading && !failed && <p className="muted">No schedule on this channel.</p>}
      {s && (
        <div data-testid="schedule">
          <p>
            {s.version}: <Badge>{s.state}</Badge> step {s.current_step} of {s.step_list.length} ({s.percent}%)
            since {when(s.step_started_at)}
          </p>
          <ol className="steps">
            {s.step_list.map((step, index) => (
              <li key={index} aria-current={index + 1 === s.current_step ? 'step' : undefined}>
                {index + 1 === s.current_step ? <strong>{step.percent}%</strong> : `${step.percent}%`}
                {step.seconds === null ? ' (completes the rollout)' : ` for ${lasting(step.seconds)}`}
              </li>
            ))}
          </ol>
          {s.next_step_at && (
            <p data-testid="next-step">
              Next step at {when(s.next_step_at)} (or the scheduler's next tick after), if the release is
              healthy; otherwise the channel is halted.
            </p>
          )}
          {s.reason && <p className="muted">Ended: {s.reason}</p>}
          {props.editable && s.state === 'running' && (
            <button type="button" className="danger" onClick={() => cancel.ask(true)}>
              Cancel schedule
            </button>
          )}
          {cancel.target && (
            <ConfirmDialog
              title="Cancel the schedule?"
              confirmLabel="Cancel schedule"
              danger
              {...cancel.dialog}
            >
              <p>
                The rollout stays at {s.percent}% of the devices; no further step starts. Raise it, make it
                live or roll it back by hand.
              </p>
            </ConfirmDialog>
          )}
        </div>
      )}
      {props.editable && (!s || s.state !== 'running') && (
        <StartSchedule route={props.route} channel={props.channel} bundles={props.bundles} onDone={changed} />
      )}
    </Card>
  );
}

/** The form that starts a scheduled rollout: a bundle and its steps. */
function StartSchedule(props: {
  route: string;
  channel: ChannelJson;
  bundles: BundleJson[];
  onDone(): void;
}) {
  const candidates = props.bundles.filter((bundle) => bundle.version !== props.channel.version);
  const [version, setVersion] = useState('');
  const [steps, setSteps] = useState('1%:1h,10%:6h,50%:24h,100%');
  const action = useAction();
  const chosen = version || candidates[0]?.version || '';
  if (candidates.length === 0) return null;
  const start = () =>
    void action
      .run(() => api<ChannelJson>('POST', `${props.route}/rollout`, { version: chosen, steps }))
      .then((answer) => answer && props.onDone());
  return (
    <Form onSubmit={start} className="stack" label="Start a scheduled rollout">
      <Field label="Bundle to schedule">
        <select name="schedule-version" value={chosen} onChange={(event) => setVersion(event.target.value)}>
          {candidates.map((bundle) => (
            <option key={bundle.id} value={bundle.version}>
              {bundle.version}
            </option>
          ))}
        </select>
      </Field>
      <TextField
        label="Steps: share of devices and how long, the last 100%"
        name="steps"
        value={steps}
        onChange={setSteps}
      />
      <div className="actions">
        <button type="submit" disabled={action.pending || !chosen}>
          Start schedule
        </button>
      </div>
      <ErrorBox error={action.error} />
    </Form>
  );
}

function Rollback({ route, channel, onDone }: { route: string; channel: ChannelJson; onDone(): void }) {
  const [reason, setReason] = useState('');
  const action = useConfirmed<true>(
    () => api<ChannelJson>('POST', `${route}/rollback`, reason.trim() ? { reason: reason.trim() } : {}),
    onDone,
  );
  const open = () => {
    setReason('');
    action.ask(true);
  };
  const what = channel.rollout
    ? `This stops the rollout of ${channel.rollout.version}: every device of the channel gets ${channel.version ?? 'no bundle'} again.`
    : `This makes the bundle that was live before ${channel.version ?? 'the current one'} live again.`;
  return (
    <div className="rollback">
      <button type="button" className="danger" onClick={open} disabled={!channel.version && !channel.rollout}>
        Roll back
      </button>
      {action.target && (
        <ConfirmDialog
          title={`Roll back ${channel.name}?`}
          confirmLabel="Roll back"
          danger
          {...action.dialog}
        >
          <p>{what} Devices switch at their next check.</p>
          <TextField
            label="Reason (optional, kept in the history)"
            name="reason"
            value={reason}
            onChange={setReason}
          />
        </ConfirmDialog>
      )}
    </div>
  );
}

const POLICIES: [string, string][] = [
  ['none', 'Any native build'],
  ['major', 'Same major version as the bundle'],
  ['minor', 'Same minor version'],
  ['patch', 'Same patch version'],
  ['under_native', 'Not above the native version'],
];

type Flag =
  | 'is_default'
  | 'allow_self_assign'
  | 'allow_emulator'
  | 'allow_dev'
  | 'allow_prod'
  | 'allow_downgrade'
  | 'protected';
const FLAGS: [Flag, string][] = [
  ['protected', 'Protected: making bundles live and rollouts need the release role'],
  ['is_default', 'Default channel of the app'],
  ['allow_self_assign', 'Devices may choose this channel themselves'],
  ['allow_prod', 'Serve store (production) builds'],
  ['allow_dev', 'Serve development builds'],
  ['allow_emulator', 'Serve emulators'],
  ['allow_downgrade', 'Allow downgrades'],
];
const PLATFORMS: [string, string][] = [
  ['ios', 'iOS'],
  ['android', 'Android'],
  ['electron', 'Electron'],
];

interface RulesForm {
  flags: Record<Flag, boolean>;
  platforms: string[];
  native_policy: string;
  unregistered_binaries: 'serve' | 'refuse';
  /** Percent as typed; empty turns the automatic halt off. */
  threshold: string;
  min_devices: string;
  halt_on_evidence: boolean;
  evidence_min_devices: string;
}

function formOf(channel: ChannelJson): RulesForm {
  return {
    flags: Object.fromEntries(FLAGS.map(([flag]) => [flag, channel[flag]])) as Record<Flag, boolean>,
    platforms: channel.platforms,
    native_policy: channel.native_policy,
    unregistered_binaries: channel.unregistered_binaries,
    threshold:
      channel.failure_threshold === null ? '' : String(Math.round(channel.failure_threshold * 1000) / 10),
    min_devices: String(channel.failure_min_devices),
    halt_on_evidence: channel.halt_on_evidence,
    evidence_min_devices: String(channel.evidence_min_devices),
  };
}

/** The channel's settings (PATCH with what changed). */
function Rules(props: { route: string; channel: ChannelJson; editable: boolean; onSaved(): void }) {
  const [form, setForm] = useState(() => formOf(props.channel));
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => setForm(formOf(props.channel)), [props.channel]);

  const changes = (): Record<string, unknown> => {
    const before = formOf(props.channel);
    const result: Record<string, unknown> = {};
    for (const [flag] of FLAGS) if (form.flags[flag] !== before.flags[flag]) result[flag] = form.flags[flag];
    const sorted = (list: string[]) => [...list].sort().join(',');
    if (sorted(form.platforms) !== sorted(before.platforms)) result.platforms = form.platforms;
    if (form.native_policy !== before.native_policy) result.native_policy = form.native_policy;
    if (form.unregistered_binaries !== before.unregistered_binaries)
      result.unregistered_binaries = form.unregistered_binaries;
    // What is not a number goes as typed: the API's answer says what is wrong with it.
    const number = (text: string) => (Number.isFinite(Number(text)) ? Number(text) : text);
    const threshold = form.threshold.trim();
    if (threshold !== before.threshold) {
      const value = number(threshold);
      result.failure_threshold = threshold === '' ? null : typeof value === 'number' ? value / 100 : value;
    }
    if (form.min_devices.trim() !== before.min_devices)
      result.failure_min_devices = number(form.min_devices.trim());
    if (form.halt_on_evidence !== before.halt_on_evidence) result.halt_on_evidence = form.halt_on_evidence;
    if (form.evidence_min_devices.trim() !== before.evidence_min_devices)
      result.evidence_min_devices = number(form.evidence_min_devices.trim());
    return result;
  };
  const pending = Object.keys(changes()).length > 0;
  const save = () =>
    void action
      .run(() => api<ChannelJson>('PATCH', props.route, changes()))
      .then((answer) => {
        if (!answer) return;
        setSaved(true);
        props.onSaved();
      });
  const disabled = !props.editable;
  const update = (change: Partial<RulesForm>) => {
    setSaved(false);
    setForm((previous) => ({ ...previous, ...change }));
  };

  return (
    <Card title="Rules">
      <Form onSubmit={save} className="stack" label="Rules">
        <fieldset disabled={disabled}>
          <legend>Who gets this channel's bundles</legend>
          {FLAGS.map(([flag, label]) => (
            <label key={flag} className="check">
              <input
                type="checkbox"
                name={flag}
                checked={form.flags[flag]}
                onChange={(event) => update({ flags: { ...form.flags, [flag]: event.target.checked } })}
              />
              {label}
            </label>
          ))}
          <div className="check-row" role="group" aria-label="Platforms">
            <span className="field-label">Platforms (none ticked: all)</span>
            {PLATFORMS.map(([platform, label]) => (
              <label key={platform} className="check">
                <input
                  type="checkbox"
                  name={`platform-${platform}`}
                  checked={form.platforms.includes(platform)}
                  onChange={(event) =>
                    update({
                      platforms: event.target.checked
                        ? [...form.platforms, platform]
                        : form.platforms.filter((item) => item !== platform),
                    })
                  }
                />
                {label}
              </label>
            ))}
          </div>
          <Field label="Native builds served">
            <select
              value={form.native_policy}
              onChange={(event) => update({ native_policy: event.target.value })}
            >
              {POLICIES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
          <Field
            label="Binaries nobody registered"
            hint="Registered binaries get only bundles whose native code they have (overair native register)."
          >
            <select
              name="unregistered_binaries"
              value={form.unregistered_binaries}
              onChange={(event) =>
                update({ unregistered_binaries: event.target.value as RulesForm['unregistered_binaries'] })
              }
            >
              <option value="serve">Serve them</option>
              <option value="refuse">Refuse bundles with a known native layer</option>
            </select>
          </Field>
        </fieldset>
        <fieldset disabled={disabled}>
          <legend>Automatic halt</legend>
          <div className="grid-form">
            <Field label="Failure threshold (%)" hint="Empty: never halt.">
              <input
                name="failure_threshold"
                inputMode="decimal"
                value={form.threshold}
                placeholder="off"
                onChange={(event) => update({ threshold: event.target.value })}
              />
            </Field>
            <Field label="After at least (devices)">
              <input
                name="failure_min_devices"
                inputMode="numeric"
                value={form.min_devices}
                onChange={(event) => update({ min_devices: event.target.value })}
              />
            </Field>
          </div>
          <label className="check">
            <input
              type="checkbox"
              name="halt_on_evidence"
              checked={form.halt_on_evidence}
              onChange={(event) => update({ halt_on_evidence: event.target.checked })}
            />
            Halt a rollout that fails more than its control group (95% intervals apart)
          </label>
          <Field label="Devices per group before judging">
            <input
              name="evidence_min_devices"
              inputMode="numeric"
              value={form.evidence_min_devices}
              onChange={(event) => update({ evidence_min_devices: event.target.value })}
            />
          </Field>
        </fieldset>
        <ErrorBox error={action.error} />
        {props.editable && (
          <div className="actions">
            {saved && !pending && (
              <span className="ok" role="status">
                Saved.
              </span>
            )}
            <button type="submit" disabled={!pending || action.pending}>
              Save rules
            </button>
          </div>
        )}
      </Form>
    </Card>
  );
}
