import { StrictMode, useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { api, onUnauthorized, setCsrfToken, type ApiError, type Session } from './api.js';
import { Loading } from './components.js';
import { asApiError, SessionContext, useCan, useSession } from './hooks.js';
import { describeGrants } from '../../src/domain/roles.js';
import { AccountPage } from './pages/account.js';
import { AppPage } from './pages/app-overview.js';
import { AppsPage } from './pages/apps.js';
import { AuditPage } from './pages/audit.js';
import { BundlePage, BundlesPage } from './pages/bundles.js';
import { ChannelPage } from './pages/channel.js';
import { DevicesPage } from './pages/devices.js';
import { NativeBuildsPage } from './pages/native.js';
import { SignInPage } from './pages/sign-in.js';
import { TokensPage } from './pages/tokens.js';
import { UsersPage } from './pages/users.js';
import { Link, matchPath, navigate, useLocation } from './router.js';
import './styles.css';

type State =
  | { status: 'loading' }
  | { status: 'signed-out'; notice?: string; error?: ApiError }
  | { status: 'signed-in'; session: Session };

function App() {
  const [state, setState] = useState<State>({ status: 'loading' });

  const signedIn = useCallback((session: Session) => {
    setCsrfToken(session.csrf_token);
    setState({ status: 'signed-in', session });
  }, []);

  useEffect(() => {
    api<Session>('GET', '/session').then(signedIn, (error: unknown) => {
      const failure = asApiError(error);
      setState({ status: 'signed-out', error: failure.status === 401 ? undefined : failure });
    });
  }, [signedIn]);

  useEffect(
    () =>
      onUnauthorized(() => {
        setCsrfToken(null);
        setState({ status: 'signed-out', notice: 'Your session has ended: sign in again.' });
      }),
    [],
  );

  const signOut = useCallback(async () => {
    try {
      await api('DELETE', '/session');
    } finally {
      setCsrfToken(null);
      setState({ status: 'signed-out', notice: 'You are signed out.' });
      navigate('/');
    }
  }, []);

  const refresh = useCallback(async () => {
    signedIn(await api<Session>('GET', '/session'));
  }, [signedIn]);

  const context = useMemo(
    () =>
      state.status === 'signed-in'
        ? {
            user: state.session.user,
            enrolmentRequired: state.session.totp_enrolment_required,
            signOut,
            refresh,
          }
        : null,
    [state, signOut, refresh],
  );

  if (state.status === 'loading') {
    return (
      <main className="center">
        <Loading />
      </main>
    );
  }
  if (state.status === 'signed-out' || !context) {
    return (
      <SignInPage
        onSignedIn={signedIn}
        notice={state.status === 'signed-out' ? state.notice : undefined}
        error={state.status === 'signed-out' ? state.error : undefined}
      />
    );
  }
  return (
    <SessionContext.Provider value={context}>
      <Layout>
        <Routes />
      </Layout>
    </SessionContext.Provider>
  );
}

function Routes() {
  const location = useLocation();
  const { enrolmentRequired } = useSession();
  const pathname = location.split('?')[0]!;
  // The server refuses everything else to this session until two-factor sign-in is set up. Shown
  // at /account, in the same element as that route's, so that the page (and the recovery codes it
  // shows) stays when enrolling lifts the requirement.
  useEffect(() => {
    if (enrolmentRequired && pathname !== '/account') navigate('/account', { replace: true });
  }, [enrolmentRequired, pathname]);
  if (enrolmentRequired) {
    return (
      <div key="/account">
        <AccountPage />
      </div>
    );
  }
  const routes: [string, (params: Record<string, string>) => ReactNode][] = [
    ['/', () => <AppsPage />],
    ['/apps', () => <AppsPage />],
    ['/apps/:app', (p) => <AppPage appId={p.app!} />],
    ['/apps/:app/bundles', (p) => <BundlesPage appId={p.app!} />],
    ['/apps/:app/bundles/:version', (p) => <BundlePage appId={p.app!} version={p.version!} />],
    ['/apps/:app/channels/:channel', (p) => <ChannelPage appId={p.app!} channel={p.channel!} />],
    ['/apps/:app/devices', (p) => <DevicesPage appId={p.app!} />],
    ['/apps/:app/native', (p) => <NativeBuildsPage appId={p.app!} />],
    ['/tokens', () => <TokensPage />],
    ['/users', () => <UsersPage />],
    ['/audit', () => <AuditPage />],
    ['/account', () => <AccountPage />],
  ];
  for (const [pattern, render] of routes) {
    const params = matchPath(pattern, pathname);
    // Keyed by path: a page's state never leaks into another app's or channel's page.
    if (params) return <div key={pathname}>{render(params)}</div>;
  }
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{pathname}</code>. <Link to="/">Back to the apps</Link>
      </p>
    </div>
  );
}

function Layout({ children }: { children: ReactNode }) {
  const { user, signOut, enrolmentRequired } = useSession();
  const location = useLocation();
  const can = useCan();
  const roles = describeGrants(can.grants);
  const section = (prefix: string) =>
    location === prefix || location.startsWith(`${prefix}/`) || (prefix === '/apps' && location === '/');
  const links: [string, string][] = [
    ...(enrolmentRequired ? [] : ([['/apps', 'Apps']] as [string, string][])),
    // The pages whose API the signed-in person may use: the tokens of the apps they administer; users
    // and the whole audit log for server admins.
    ...(!enrolmentRequired && can.someAppAdmin ? ([['/tokens', 'Tokens']] as [string, string][]) : []),
    ...(!enrolmentRequired && can.serverAdmin
      ? ([
          ['/users', 'Users'],
          ['/audit', 'Audit log'],
        ] as [string, string][])
      : []),
    ['/account', 'Account'],
  ];
  return (
    <>
      <header className="topbar">
        <Link to="/" className="brand">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          Overair
        </Link>
        <nav className="mainnav" aria-label="Main">
          {links.map(([to, label]) => (
            <Link key={to} to={to} aria-current={section(to) ? 'page' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <div className="who">
          <span
            className="who-name"
            title={`${user.kind === 'token' ? 'Token' : 'User'} ${user.name}: ${roles}`}
          >
            {user.name} <span className="muted">· {roles}</span>
          </span>
          <button type="button" className="secondary small" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main className="main">{children}</main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
