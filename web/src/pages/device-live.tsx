import { useEffect, useState } from 'react';
import { enc, streamUrl, type LiveStreamJson } from '../api.js';
import { Badge, Empty, Time } from '../components.js';

/** Events shown at most: the oldest go first. */
const MAX_SHOWN = 100;

type Shown = { key: number; event: LiveStreamJson };
type Status = { state: 'connecting' | 'open' | 'reconnecting' } | { state: 'ended'; reason: string };

/**
 * One device, live: its update checks (what it sent, what it was answered and why), downloads and
 * events as they happen, newest first, from the server-sent events of GET …/devices/:deviceId/live
 * (the session cookie goes with them; EventSource reconnects by itself with Last-Event-ID).
 */
export function DeviceLive({ appId, deviceId }: { appId: string; deviceId: string }) {
  const [watching, setWatching] = useState(false);
  const [events, setEvents] = useState<Shown[]>([]);
  const [status, setStatus] = useState<Status>({ state: 'connecting' });

  useEffect(() => {
    if (!watching) return;
    setStatus({ state: 'connecting' });
    const source = new EventSource(streamUrl(`/apps/${enc(appId)}/devices/${enc(deviceId)}/live`));
    let key = 0;
    source.onopen = () => setStatus({ state: 'open' });
    source.onmessage = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as LiveStreamJson;
      if (event.kind === 'closed' && !event.reconnect) {
        source.close();
        setStatus({ state: 'ended', reason: event.reason });
        return;
      }
      if (event.kind === 'closed') return;
      setEvents((shown) => [{ key: key++, event }, ...shown].slice(0, MAX_SHOWN));
    };
    source.onerror = () => {
      // A refusal (signed out, no access, too many streams) closes it for good; else it retries.
      if (source.readyState === EventSource.CLOSED)
        setStatus({
          state: 'ended',
          reason: 'the server refused the stream (signed out, no access, or too many streams open)',
        });
      else setStatus({ state: 'reconnecting' });
    };
    return () => source.close();
  }, [watching, appId, deviceId]);

  return (
    <section className="device-live" aria-label="Live">
      <h3 className="detail-head">
        Live {watching && status.state === 'open' && <Badge tone="good">watching</Badge>}
        {watching && status.state !== 'open' && status.state !== 'ended' && <Badge>{status.state}</Badge>}
      </h3>
      <p className="muted">
        Update checks (what the device sent, what it was answered and why), downloads and events, as they
        happen.{' '}
        <button type="button" className="secondary small" onClick={() => setWatching(!watching)}>
          {watching ? 'Stop' : 'Watch live'}
        </button>
      </p>
      {watching && status.state === 'ended' && <p className="muted">Stopped: {status.reason}.</p>}
      {watching && events.length === 0 && status.state !== 'ended' && (
        <Empty>Nothing yet: events appear here when the device checks or reports.</Empty>
      )}
      {events.length > 0 && (
        <ol className="live-events">
          {events.map(({ key, event }) => (
            <li key={key}>
              <LiveLine event={event} />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function LiveLine({ event }: { event: LiveStreamJson }) {
  switch (event.kind) {
    case 'check':
      return (
        <>
          <Time at={event.at} /> <Badge>check</Badge> runs <code>{event.sent.version_name || 'builtin'}</code>{' '}
          <span className="muted">
            (native {event.sent.version_build || '?'}, {event.sent.platform}, plugin{' '}
            {event.sent.plugin_version})
          </span>{' '}
          →{' '}
          <strong>
            {[event.answer.outcome.replace(/_/g, ' '), event.answer.version].filter(Boolean).join(' ')}
          </strong>
          {event.answer.error && event.answer.outcome !== 'up_to_date' && <code> {event.answer.error}</code>}
          <div className="muted live-reason">{event.reason}</div>
        </>
      );
    case 'download':
    case 'event':
      return (
        <>
          <Time at={event.at} />{' '}
          <Badge tone={event.action.endsWith('_fail') ? 'warn' : 'plain'}>{event.kind}</Badge>{' '}
          <code>{event.action}</code> {event.version_name}
          {event.old_version_name && <span className="muted"> (from {event.old_version_name})</span>}
        </>
      );
    case 'dropped':
      return (
        <span className="muted">
          {event.count} events dropped: they came faster than this page read them.
        </span>
      );
    case 'gap':
      return <span className="muted">Reconnected: events in between may be missing.</span>;
    case 'closed':
      return <span className="muted">{event.reason}</span>;
  }
}
