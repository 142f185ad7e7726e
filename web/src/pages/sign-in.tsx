import { useState } from 'react';
import { api, type ApiError, type Session } from '../api.js';
import { ErrorBox, Field, Form, Notice, TextField } from '../components.js';
import { useAction } from '../hooks.js';

/** Sign in with a user name and password, or with an admin token (the one printed at first start). */
export function SignInPage(props: { onSignedIn(session: Session): void; notice?: string; error?: ApiError }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
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
        <ErrorBox error={action.error ?? props.error} />
        <div className="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'password'}
            onClick={() => setMode('password')}
          >
            User name
          </button>
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
