import { useEffect, useState } from 'react';
import { api, ApiError, type Session } from '../api.js';
import { ErrorBox, Field, Form, Notice, TextField } from '../components.js';
import { useAction } from '../hooks.js';

/** GET /session/methods: how one may sign in on this server. */
interface SignInMethods {
  password: boolean;
  sso: { name: string } | null;
}

/** Why single sign-on sent the browser back (`reason` of sso_refused), in the dashboard's words. */
const SSO_REFUSALS: Record<string, string> = {
  email_unverified: 'your provider gave no verified email address.',
  domain: 'your email domain is not allowed on this server.',
  group: 'you are in none of the groups allowed on this server.',
  no_role: 'none of your groups gives a role on this server.',
  username: 'your account has no valid user name for this server.',
};

const SSO_ERRORS: Record<string, string> = {
  sso_failed:
    'Single sign-on failed: the answer from the provider did not pass the checks, or the sign-in took too long. Start again.',
  sso_name_taken:
    'A local user already has your user name on this server: ask an admin to remove it before you sign in with single sign-on.',
  sso_unavailable: 'The single sign-on provider cannot be reached right now; try again shortly.',
  sso_not_configured: 'Single sign-on is not set up on this server.',
  too_many_failed_logins: 'Too many failed sign-ins from your address: wait a few minutes, then try again.',
};

/**
 * The error single sign-on came back with (`/?sso_error=CODE&reason=KEY`), taken out of the address
 * bar once read. Only codes and keys travel in the URL: the text is ours, so a crafted link cannot
 * put its words on this page.
 */
function takeSsoError(): ApiError | undefined {
  const params = new URLSearchParams(window.location.search);
  const code = params.get('sso_error');
  if (code === null) return undefined;
  window.history.replaceState(null, '', window.location.pathname);
  const reason = params.get('reason');
  const message =
    code === 'sso_refused'
      ? `Single sign-on refused: ${SSO_REFUSALS[reason ?? ''] ?? 'you may not sign in here.'}`
      : (SSO_ERRORS[code] ?? 'Single sign-on failed; start again.');
  return new ApiError(401, code, message);
}

/**
 * Sign in with a user name and password (unless the server turned it off), with an admin token (the
 * one printed at first start), or through single sign-on when the server has it.
 */
export function SignInPage(props: { onSignedIn(session: Session): void; notice?: string; error?: ApiError }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [methods, setMethods] = useState<SignInMethods>({ password: true, sso: null });
  const [ssoError] = useState(takeSsoError);
  useEffect(() => {
    api<SignInMethods>('GET', '/session/methods').then(
      (found) => {
        setMethods(found);
        if (!found.password) setMode('token');
      },
      () => undefined, // an older server: the password form, as before
    );
  }, []);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  // Shown once the server answers totp_required: the password was right, a code is needed.
  const [needsCode, setNeedsCode] = useState(false);
  const [code, setCode] = useState('');
  const action = useAction();

  const submit = () =>
    void action
      .run(async () => {
        try {
          return await api<Session>(
            'POST',
            '/session',
            mode === 'password'
              ? { username, password, ...(needsCode && { code: code.trim() }) }
              : { token: token.trim() },
          );
        } catch (error) {
          if ((error as ApiError).code === 'totp_required') {
            setNeedsCode(true);
            return undefined;
          }
          throw error;
        }
      })
      .then((session) => {
        if (session) props.onSignedIn(session);
      });

  return (
    <main className="signin">
      <div className="signin-box">
        <h1 className="signin-title">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          Overair
        </h1>
        <p className="muted">Sign in to manage your apps, bundles and releases.</p>
        {props.notice && <Notice>{props.notice}</Notice>}
        <ErrorBox error={action.error ?? props.error ?? ssoError} />
        {methods.sso && (
          <>
            {/* A navigation, not a fetch: the provider's pages take over the window. */}
            <a className="button sso-button" href="/api/v1/session/oidc">
              Sign in with {methods.sso.name}
            </a>
            <p className="muted signin-or">or</p>
          </>
        )}
        <div className="tabs" role="tablist">
          {methods.password && (
            <button
              type="button"
              role="tab"
              aria-selected={mode === 'password'}
              onClick={() => setMode('password')}
            >
              User name
            </button>
          )}
          <button type="button" role="tab" aria-selected={mode === 'token'} onClick={() => setMode('token')}>
            Admin token
          </button>
        </div>
        <Form onSubmit={submit} label="Sign in" className="stack">
          {mode === 'password' ? (
            <>
              <TextField
                label="User name"
                name="username"
                autoComplete="username"
                autoFocus
                required
                value={username}
                onChange={setUsername}
              />
              <TextField
                label="Password"
                name="password"
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={setPassword}
              />
              {needsCode && (
                <TextField
                  label="Two-factor code"
                  hint="The six-digit code of your authenticator app, or one of your recovery codes."
                  name="code"
                  autoComplete="one-time-code"
                  autoFocus
                  required
                  value={code}
                  onChange={setCode}
                />
              )}
            </>
          ) : (
            <Field
              label="Token"
              hint="An API token, such as the admin token printed at the server's first start."
            >
              <input
                name="token"
                type="password"
                autoComplete="off"
                autoFocus
                required
                placeholder="oat_…"
                value={token}
                onChange={(event) => setToken(event.target.value)}
              />
            </Field>
          )}
          <button type="submit" disabled={action.pending}>
            {action.pending ? 'Signing in…' : 'Sign in'}
          </button>
        </Form>
      </div>
    </main>
  );
}
