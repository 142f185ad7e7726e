import { useState } from 'react';
import { api, type SessionListingJson, type TotpEnrolmentJson, type TotpStatusJson } from '../api.js';
import {
  Badge,
  Card,
  Empty,
  ErrorBox,
  Form,
  Loading,
  Notice,
  Secret,
  TextField,
  Time,
} from '../components.js';
import { useAction, useApi, useCan, useSession } from '../hooks.js';

/**
 * The signed-in person's account: two-factor sign-in (for users) and their sessions; an admin also
 * sees everyone's sessions. When the server requires two-factor sign-in for admins and this admin
 * has none, this is the only page the dashboard shows.
 */
export function AccountPage() {
  const { user, enrolmentRequired } = useSession();
  const can = useCan();
  return (
    <div className="page">
      <div className="page-head">
        <h1>Your account</h1>
      </div>
      {enrolmentRequired && (
        <Notice>
          This server requires two-factor sign-in for admins: set it up below to use the dashboard.
        </Notice>
      )}
      {user.kind === 'user' && <TwoFactor />}
      {!enrolmentRequired && <Sessions route="/me/sessions" title="Your sessions" />}
      {!enrolmentRequired && can.serverAdmin && (
        <Sessions route="/sessions" title="Everyone's sessions" all />
      )}
    </div>
  );
}

function TwoFactor() {
  const status = useApi<TotpStatusJson>('/me/totp');
  const { refresh } = useSession();
  const [enrolment, setEnrolment] = useState<TotpEnrolmentJson | null>(null);
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const action = useAction();

  const start = () =>
    void action
      .run(() => api<TotpEnrolmentJson>('POST', '/me/totp'))
      .then((started) => {
        if (started) setEnrolment(started);
      });
  const confirm = () =>
    void action
      .run(() => api<{ recovery_codes: string[] }>('POST', '/me/totp/confirm', { code: code.trim() }))
      .then((done) => {
        if (!done) return;
        setEnrolment(null);
        setCode('');
        setRecoveryCodes(done.recovery_codes);
        status.reload();
        void refresh();
      });
  const turnOff = () =>
    void action
      .run(() => api('DELETE', '/me/totp', { code: code.trim() }))
      .then((done) => {
        if (!done) return;
        setCode('');
        setRecoveryCodes(null);
        status.reload();
      });

  return (
    <Card title="Two-factor sign-in">
      <ErrorBox error={status.error ?? action.error} />
      {status.loading && !status.data && <Loading />}
      {recoveryCodes && (
        <Secret value={recoveryCodes.join('\n')}>
          Two-factor sign-in is on. Keep these recovery codes somewhere safe: each signs you in once without
          your authenticator, and they are shown only now.
        </Secret>
      )}
      {recoveryCodes && (
        <ul className="recovery-codes" data-testid="recovery-codes">
          {recoveryCodes.map((recovery) => (
            <li key={recovery}>
              <code>{recovery}</code>
            </li>
          ))}
        </ul>
      )}
      {status.data && !status.data.enabled && !enrolment && (
        <div className="stack">
          <p>
            Off. With it on, signing in needs a code of an authenticator app (or a recovery code) besides your
            password.
          </p>
          <div>
            <button type="button" onClick={start} disabled={action.pending}>
              Set up two-factor sign-in
            </button>
          </div>
        </div>
      )}
      {enrolment && (
        <div className="stack">
          <p>
            Scan this QR code with your authenticator app, or type in the key, then enter the code it shows.
          </p>
          <img
            className="totp-qr"
            src={enrolment.qr_code}
            alt="QR code of the authenticator key"
            width={200}
          />
          <p>
            Key: <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <Form onSubmit={confirm} label="Confirm two-factor sign-in" className="stack">
            <TextField
              label="Code"
              name="code"
              autoComplete="one-time-code"
              inputMode="numeric"
              required
              value={code}
              onChange={setCode}
            />
            <div>
              <button type="submit" disabled={action.pending}>
                Turn on
              </button>
            </div>
          </Form>
        </div>
      )}
      {status.data?.enabled && (
        <div className="stack">
          <p>
            <Badge tone="good">On</Badge> since <Time at={status.data.enabled_at} />;{' '}
            {status.data.recovery_codes_left} recovery codes left.
          </p>
          <Form onSubmit={turnOff} label="Turn two-factor sign-in off" className="stack">
            <TextField
              label="Code or recovery code"
              name="code"
              autoComplete="one-time-code"
              required
              value={code}
              onChange={setCode}
            />
            <div>
              <button type="submit" className="danger" disabled={action.pending}>
                Turn off
              </button>
            </div>
          </Form>
        </div>
      )}
    </Card>
  );
}

function Sessions(props: { route: string; title: string; all?: boolean }) {
  const sessions = useApi<{ items: SessionListingJson[] }>(props.route);
  const { signOut } = useSession();
  const action = useAction();
  const end = (session: SessionListingJson) =>
    void action
      .run(() => api('DELETE', `${props.route}/${session.id}`))
      .then((done) => {
        if (!done) return;
        if (session.current) void signOut();
        else sessions.reload();
      });
  return (
    <Card title={props.title}>
      <ErrorBox error={sessions.error ?? action.error} />
      {sessions.loading && !sessions.data && <Loading />}
      {sessions.data && sessions.data.items.length === 0 && <Empty>No live sessions.</Empty>}
      {sessions.data && sessions.data.items.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                {props.all && <th>Who</th>}
                <th>Browser</th>
                <th className="hide-sm">Address</th>
                <th>Signed in</th>
                <th className="hide-sm">Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {sessions.data.items.map((session) => (
                <tr key={session.id}>
                  {props.all && <td>{session.user ?? `token ${session.token ?? ''}`}</td>}
                  <td className="ellipsis" title={session.user_agent ?? ''}>
                    {session.user_agent ?? '—'} {session.current && <Badge>this one</Badge>}
                  </td>
                  <td className="hide-sm">{session.address ?? '—'}</td>
                  <td>
                    <Time at={session.created_at} />
                  </td>
                  <td className="hide-sm">
                    <Time at={session.last_used_at} />
                  </td>
                  <td className="row-actions">
                    <button type="button" className="danger small" onClick={() => end(session)}>
                      End
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
