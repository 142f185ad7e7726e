import { useEffect, useState } from 'react';
import { api, enc, withQuery, type AppJson, type Page, type ReleaseRequestJson } from '../api.js';
import { Badge, Card, ConfirmDialog, Empty, ErrorBox, Loading, TextField, Time } from '../components.js';
import { useAction, useApi, useCan, useConfirmed } from '../hooks.js';

/** What a request asks for, in words. */
const requestedChange = (r: ReleaseRequestJson) =>
  r.action === 'set' ? `make ${r.version} live` : `roll out ${r.version} to ${r.percent}%`;

/**
 * The pending release requests of an app (or of one channel), with Approve and Reject for those who
 * hold the release role. The server refuses the requester's own approval (self_approval): the
 * button is there, the answer says why.
 */
export function PendingRequests(props: {
  appId: string;
  channel?: string;
  /** Changed by the page when a request may have been made (a release on a protected channel). */
  generation?: number;
  /** Show nothing while no request waits (and none was just decided). */
  hideWhenEmpty?: boolean;
  onDecided?(): void;
}) {
  const route = `/apps/${enc(props.appId)}/release-requests`;
  const pending = useApi<Page<ReleaseRequestJson>>(withQuery(route, { status: 'pending', limit: 100 }));
  const can = useCan();
  const { reload } = pending;
  useEffect(() => {
    if (props.generation) reload();
  }, [props.generation, reload]);
  const [reason, setReason] = useState('');
  const [decided, setDecided] = useState<string | null>(null);
  const approve = useAction();
  const reject = useConfirmed<ReleaseRequestJson>(
    (r) =>
      api<ReleaseRequestJson>(
        'POST',
        `${route}/${r.id}/reject`,
        reason.trim() ? { reason: reason.trim() } : {},
      ),
    (r) => done(`Request ${r.id} rejected.`),
  );
  const done = (message: string) => {
    setDecided(message);
    pending.reload();
    props.onDecided?.();
  };
  const approveOne = (r: ReleaseRequestJson) =>
    void approve
      .run(() => api<ReleaseRequestJson>('POST', `${route}/${r.id}/approve`))
      .then((answer) => {
        if (answer) done(`Request ${r.id} approved: ${requestedChange(r)} on ${r.channel} is done.`);
        else pending.reload();
      });
  const items = (pending.data?.items ?? []).filter(
    (r) => props.channel === undefined || r.channel === props.channel,
  );
  if (props.hideWhenEmpty && items.length === 0 && !decided && !pending.error) return null;
  return (
    <Card title="Release requests" className="span-2">
      <ErrorBox error={pending.error} />
      {pending.loading && !pending.data && <Loading />}
      {pending.data && items.length === 0 && <Empty>No release request waits for approval.</Empty>}
      <ul className="events" data-testid="release-requests">
        {items.map((r) => (
          <li key={r.id}>
            <span>
              <Badge tone="warn">pending</Badge> #{r.id}: {requestedChange(r)} on <strong>{r.channel}</strong>
              , asked by {r.requested_by} <Time at={r.created_at} />; expires <Time at={r.expires_at} />
            </span>
            {can.release && (
              <span className="actions">
                <button
                  type="button"
                  className="small"
                  disabled={approve.pending}
                  onClick={() => approveOne(r)}
                >
                  Approve
                </button>
                <button
                  type="button"
                  className="secondary small"
                  onClick={() => {
                    setReason('');
                    reject.ask(r);
                  }}
                >
                  Reject
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {decided && (
        <p className="ok" role="status">
          {decided}
        </p>
      )}
      <ErrorBox error={approve.error} />
      {reject.target && (
        <ConfirmDialog
          title={`Reject request #${reject.target.id}?`}
          confirmLabel="Reject"
          danger
          {...reject.dialog}
        >
          <p>
            Nothing changes on {reject.target.channel}: {requestedChange(reject.target)} is not done.
          </p>
          <TextField
            label="Reason (optional, for the requester)"
            name="reason"
            value={reason}
            onChange={setReason}
          />
        </ConfirmDialog>
      )}
    </Card>
  );
}

/** The app's four-eyes setting (release_approval), changed by app admins. */
export function ReleaseApprovalSetting({ appId }: { appId: string }) {
  const route = `/apps/${enc(appId)}`;
  const app = useApi<AppJson>(route);
  const can = useCan();
  const action = useAction();
  const on = app.data?.release_approval ?? false;
  const toggle = () =>
    void action
      .run(() => api<AppJson>('PATCH', route, { release_approval: !on }))
      .then((answer) => {
        if (answer) app.reload();
      });
  return (
    <Card title="Four-eyes releases">
      <ErrorBox error={app.error} />
      {app.data && (
        <>
          <p data-testid="release-approval">
            {on ? (
              <>
                <Badge tone="good">on</Badge> On protected channels, a release by someone without the release
                role becomes a request that someone else approves.
              </>
            ) : (
              <>
                <Badge>off</Badge> On protected channels, releases need the release role.
              </>
            )}
          </p>
          {can.admin && (
            <button type="button" className="secondary" disabled={action.pending} onClick={toggle}>
              {on ? 'Turn off' : 'Turn on'}
            </button>
          )}
          <ErrorBox error={action.error} />
        </>
      )}
    </Card>
  );
}
