import { useRef, useState, type DragEvent } from 'react';
import {
  api,
  enc,
  sha256Hex,
  uploadBundle,
  type ApiError,
  type BundleJson,
  type ChannelJson,
  type UploadHandle,
} from '../api.js';
import {
  Badge,
  Card,
  ConfirmDialog,
  Empty,
  ErrorBox,
  Field,
  Form,
  formatBytes,
  Loading,
  Notice,
  Pager,
  ProgressBar,
  Time,
} from '../components.js';
import { asApiError, useAction, useApi, useCan, useConfirmed, usePaged } from '../hooks.js';
import { Link, navigate, path } from '../router.js';
import { AppHeader } from './app-nav.js';

/** The channels a version is live on (or rolling out to), by name. */
function channelsOf(channels: ChannelJson[] | undefined, version: string) {
  return (channels ?? []).filter(
    (channel) => channel.version === version || channel.rollout?.version === version,
  );
}

/** The app's bundles, newest first, with the upload form. */
export function BundlesPage({ appId }: { appId: string }) {
  const bundles = usePaged<BundleJson>(`/apps/${enc(appId)}/bundles`, 25);
  const channels = useApi<{ items: ChannelJson[] }>(`/apps/${enc(appId)}/channels`);
  const can = useCan();
  return (
    <div className="page">
      <AppHeader appId={appId} tab="bundles" />
      {can.publish && (
        <Upload
          appId={appId}
          channels={channels.data?.items ?? []}
          onUploaded={bundles.reload}
          onReleased={channels.reload}
        />
      )}
      <Card title="Bundles">
        {!bundles.loading && !bundles.error && bundles.items.length === 0 && (
          <Empty>
            No bundles yet. Upload a zip of the web build above, or with <code>overair bundle upload</code>.
          </Empty>
        )}
        {bundles.items.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Live on</th>
                  <th className="num">Size</th>
                  <th className="hide-sm">Uploaded</th>
                  <th className="hide-sm">By</th>
                </tr>
              </thead>
              <tbody>
                {bundles.items.map((bundle) => (
                  <tr key={bundle.id}>
                    <td>
                      <Link to={path('apps', appId, 'bundles', bundle.version)}>{bundle.version}</Link>{' '}
                      {bundle.encrypted && <Badge>encrypted</Badge>}{' '}
                      {bundle.location === 'external' && <Badge>external</Badge>}{' '}
                      {bundle.files === 'preparing' && <Badge>preparing delta files</Badge>}
                    </td>
                    <td>
                      {channelsOf(channels.data?.items, bundle.version).map((channel) => (
                        <Badge key={channel.name} tone="good">
                          {channel.name}
                          {channel.rollout?.version === bundle.version ? ` ${channel.rollout.percent}%` : ''}
                        </Badge>
                      ))}
                    </td>
                    <td className="num">{formatBytes(bundle.size)}</td>
                    <td className="hide-sm">
                      <Time at={bundle.created_at} />
                    </td>
                    <td className="hide-sm">{bundle.created_by ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager paged={bundles} />
      </Card>
    </div>
  );
}

type Phase = 'idle' | 'hashing' | 'uploading' | 'processing';

/** A version name in a file name such as app-1.2.3.zip. */
function versionFromName(name: string): string {
  return /(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)(?=\.zip$|$)/i.exec(name)?.[1] ?? '';
}

function Upload(props: { appId: string; channels: ChannelJson[]; onUploaded(): void; onReleased(): void }) {
  const [file, setFile] = useState<File | null>(null);
  const [version, setVersion] = useState('');
  const [notes, setNotes] = useState('');
  const [minNative, setMinNative] = useState('');
  const [phase, setPhase] = useState<Phase>('idle');
  const [progress, setProgress] = useState(0);
  const [error, setError] = useState<ApiError>();
  const [dragging, setDragging] = useState(false);
  const [uploaded, setUploaded] = useState<BundleJson | null>(null);
  const handle = useRef<UploadHandle | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const choose = (chosen: File | undefined) => {
    if (!chosen) return;
    setFile(chosen);
    setError(undefined);
    setUploaded(null);
    if (!version) setVersion(versionFromName(chosen.name));
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    choose(event.dataTransfer.files[0]);
  };

  const start = async () => {
    if (!file) {
      setError(asApiError(new Error('Choose a zip file first: drop it on the box or click the box.')));
      return;
    }
    setError(undefined);
    setUploaded(null);
    try {
      setPhase('hashing');
      setProgress(0);
      const sha256 = await sha256Hex(file);
      setPhase('uploading');
      handle.current = uploadBundle(
        props.appId,
        file,
        {
          version: version.trim(),
          sha256: sha256 ?? undefined,
          notes: notes.trim() || undefined,
          min_native_version: minNative.trim() || undefined,
        },
        (fraction) => {
          setProgress(fraction);
          if (fraction >= 1) setPhase('processing');
        },
      );
      const bundle = await handle.current.done;
      setUploaded(bundle);
      setFile(null);
      setVersion('');
      setNotes('');
      setMinNative('');
      if (input.current) input.current.value = '';
      props.onUploaded();
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      handle.current = null;
      setPhase('idle');
    }
  };

  const busy = phase !== 'idle';
  const status =
    phase === 'hashing'
      ? 'Computing the checksum…'
      : phase === 'uploading'
        ? `Uploading… ${Math.floor(progress * 100)}%`
        : phase === 'processing'
          ? 'Checking the zip on the server…'
          : '';

  return (
    <Card title="Upload a bundle">
      <Form onSubmit={() => void start()} className="stack" label="Upload a bundle">
        <label
          className={`dropzone${dragging ? ' dragging' : ''}${file ? ' chosen' : ''}`}
          data-testid="dropzone"
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <input
            ref={input}
            type="file"
            name="bundle"
            accept=".zip,application/zip"
            className="visually-hidden"
            disabled={busy}
            onChange={(event) => choose(event.target.files?.[0])}
          />
          {file ? (
            <>
              <strong>{file.name}</strong>
              <span className="muted">{formatBytes(file.size)} · click or drop to choose another</span>
            </>
          ) : (
            <>
              <strong>Drop the bundle zip here</strong>
              <span className="muted">
                or click to choose it (a zip of the web build, index.html at its root)
              </span>
            </>
          )}
        </label>
        <div className="grid-form">
          <Field label="Version" hint="Immutable: a version cannot be uploaded twice.">
            <input
              name="version"
              required
              placeholder="1.0.1"
              value={version}
              disabled={busy}
              onChange={(event) => setVersion(event.target.value)}
            />
          </Field>
          <Field label="Minimum native version" hint="Optional: older native builds never get it.">
            <input
              name="min_native_version"
              placeholder="1.0.0"
              value={minNative}
              disabled={busy}
              onChange={(event) => setMinNative(event.target.value)}
            />
          </Field>
          <Field label="Notes" className="span-all">
            <input
              name="notes"
              value={notes}
              disabled={busy}
              onChange={(event) => setNotes(event.target.value)}
            />
          </Field>
        </div>
        {busy && (
          <div className="upload-status">
            <ProgressBar value={phase === 'hashing' ? 0 : progress} label="Upload progress" />
            <span className="muted">{status}</span>
          </div>
        )}
        <ErrorBox error={error} />
        <div className="actions">
          {busy && phase === 'uploading' && (
            <button type="button" className="secondary" onClick={() => handle.current?.abort()}>
              Cancel
            </button>
          )}
          <button type="submit" disabled={busy}>
            {busy ? 'Uploading…' : 'Upload'}
          </button>
        </div>
      </Form>
      {uploaded && (
        <Notice>
          Uploaded <Link to={path('apps', props.appId, 'bundles', uploaded.version)}>{uploaded.version}</Link>{' '}
          ({formatBytes(uploaded.size)}).
          <MakeLive
            appId={props.appId}
            version={uploaded.version}
            channels={props.channels}
            onDone={props.onReleased}
          />
        </Notice>
      )}
    </Card>
  );
}

/** Makes a version the live bundle of a channel chosen from a list. */
function MakeLive(props: {
  appId: string;
  version: string;
  channels: ChannelJson[];
  onDone(channel: ChannelJson): void;
}) {
  const preferred = props.channels.find((channel) => channel.is_default) ?? props.channels[0];
  const [name, setName] = useState(preferred?.name ?? '');
  const [done, setDone] = useState<string | null>(null);
  const action = useAction();
  if (props.channels.length === 0) return <span className="muted"> No channel to release it on yet.</span>;
  const chosen = name || preferred?.name || '';
  const submit = () =>
    void action
      .run(() =>
        api<ChannelJson>('PUT', `/apps/${enc(props.appId)}/channels/${enc(chosen)}/bundle`, {
          version: props.version,
        }),
      )
      .then((channel) => {
        if (!channel) return;
        setDone(channel.name);
        props.onDone(channel);
      });
  return (
    <Form onSubmit={submit} className="inline-form" label="Make live">
      <span>Make it live on</span>
      <select aria-label="Channel" value={chosen} onChange={(event) => setName(event.target.value)}>
        {props.channels.map((channel) => (
          <option key={channel.name} value={channel.name}>
            {channel.name}
            {channel.version === props.version ? ' (live)' : ''}
          </option>
        ))}
      </select>
      <button type="submit" className="small" disabled={action.pending}>
        Make live
      </button>
      {done && (
        <span className="ok" role="status">
          Live on {done}.
        </span>
      )}
      <ErrorBox error={action.error} />
    </Form>
  );
}

/** One bundle: what it is, where it is live, release it, delete it. */
export function BundlePage({ appId, version }: { appId: string; version: string }) {
  const route = `/apps/${enc(appId)}/bundles/${enc(version)}`;
  const bundle = useApi<BundleJson>(route);
  const channels = useApi<{ items: ChannelJson[] }>(`/apps/${enc(appId)}/channels`);
  const can = useCan();
  const remove = useConfirmed<true>(
    () => api('DELETE', route),
    () => navigate(path('apps', appId, 'bundles')),
  );
  const liveOn = channelsOf(channels.data?.items, version);

  const b = bundle.data;
  return (
    <div className="page">
      <AppHeader
        appId={appId}
        tab="bundles"
        title={<>Bundle {version}</>}
        actions={
          can.publish &&
          b && (
            <button type="button" className="danger" onClick={() => remove.ask(true)}>
              Delete
            </button>
          )
        }
      />
      <ErrorBox error={bundle.error} />
      {bundle.loading && !b && <Loading />}
      {b && (
        <div className="overview">
          <Card title="Details">
            <dl className="details">
              <dt>Version</dt>
              <dd>{b.version}</dd>
              <dt>Size</dt>
              <dd>{formatBytes(b.size)}</dd>
              <dt>Uploaded</dt>
              <dd>
                <Time at={b.created_at} /> {b.created_by && <>by {b.created_by}</>}
              </dd>
              <dt>SHA-256</dt>
              <dd>
                <code className="wrap">{b.sha256}</code>
              </dd>
              <dt>Stored</dt>
              <dd>{b.location === 'blob' ? 'on this server' : 'elsewhere'}</dd>
              <dt>Download</dt>
              <dd>
                <code className="wrap">{b.url}</code>
              </dd>
              <dt>Delta files</dt>
              <dd data-testid="delta-files">{describeFiles(b)}</dd>
              <dt>Encrypted</dt>
              <dd>{b.encrypted ? `yes${b.key_id ? ` (key ${b.key_id})` : ''}` : 'no'}</dd>
              <dt>Signed</dt>
              <dd>{b.signature ? 'yes' : 'no'}</dd>
              <dt>Minimum native</dt>
              <dd>{b.min_native_version ?? 'any'}</dd>
              <dt>Native layer</dt>
              <dd data-testid="native-layer">
                {b.native_layer ? (
                  <>
                    Capacitor{' '}
                    {[
                      b.native_layer.capacitor.core && `core ${b.native_layer.capacitor.core}`,
                      b.native_layer.capacitor.android && `android ${b.native_layer.capacitor.android}`,
                      b.native_layer.capacitor.ios && `ios ${b.native_layer.capacitor.ios}`,
                    ]
                      .filter(Boolean)
                      .join(', ') || 'not installed'}
                    {b.native_layer.packages.length > 0 && (
                      <ul className="plain">
                        {b.native_layer.packages.map((pkg) => (
                          <li key={pkg.name}>
                            <code>{pkg.name}</code> {pkg.version}{' '}
                            <span className="muted">({pkg.platforms.join(', ')})</span>
                          </li>
                        ))}
                      </ul>
                    )}
                  </>
                ) : (
                  <span className="muted">unknown (served to every binary)</span>
                )}
              </dd>
              {b.notes && (
                <>
                  <dt>Notes</dt>
                  <dd>{b.notes}</dd>
                </>
              )}
            </dl>
          </Card>
          <Card title="Release">
            {liveOn.length > 0 ? (
              <p>
                Live on{' '}
                {liveOn.map((channel) => (
                  <Link
                    key={channel.name}
                    to={path('apps', appId, 'channels', channel.name)}
                    className="badge-link"
                  >
                    <Badge tone="good">
                      {channel.name}
                      {channel.rollout?.version === version ? ` (rollout ${channel.rollout.percent}%)` : ''}
                    </Badge>
                  </Link>
                ))}
              </p>
            ) : (
              <p className="muted">Not live on any channel.</p>
            )}
            {can.publish && channels.data && (
              <MakeLive
                appId={appId}
                version={version}
                channels={channels.data.items}
                onDone={channels.reload}
              />
            )}
            <p className="muted">Staged rollouts and rollbacks are on each channel's page.</p>
          </Card>
        </div>
      )}
      {remove.target && (
        <ConfirmDialog
          title={`Delete bundle ${version}?`}
          confirmLabel="Delete bundle"
          danger
          {...remove.dialog}
        >
          <p>Its bytes are deleted unless another bundle shares them. This cannot be undone.</p>
          {liveOn.length > 0 && (
            <p>
              It is live on {liveOn.map((channel) => channel.name).join(', ')}: those channels go back to
              their previous bundle.
            </p>
          )}
        </ConfirmDialog>
      )}
    </div>
  );
}

/** Where a bundle's files for delta updates stand, as its page says it (docs/devices.md#delta-updates). */
function describeFiles(bundle: BundleJson): string {
  switch (bundle.files) {
    case 'ready':
      return 'ready: devices download only the files that changed';
    case 'preparing':
      return `being prepared; devices get the whole zip until they are ready${bundle.files_error ? ` (last attempt: ${bundle.files_error})` : ''}`;
    case 'failed':
      return `failed (${bundle.files_error ?? 'unknown'}); devices get the whole zip`;
    case 'none':
      return bundle.encrypted ? 'none (encrypted bundles travel whole)' : 'none (hosted elsewhere)';
  }
}
