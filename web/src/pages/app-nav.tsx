import type { ReactNode } from 'react';
import { enc, type AppJson } from '../api.js';
import { ErrorBox } from '../components.js';
import { useApi } from '../hooks.js';
import { Link, path } from '../router.js';

export type AppTab = 'overview' | 'bundles' | 'devices' | 'native' | 'channel';

/** The app's name, a way back to the list, and its tabs; `title` is the page's own heading. */
export function AppHeader(props: { appId: string; tab: AppTab; title?: ReactNode; actions?: ReactNode }) {
  const app = useApi<AppJson>(`/apps/${enc(props.appId)}`);
  const tabs: [AppTab, string, string][] = [
    ['overview', 'Overview', path('apps', props.appId)],
    ['bundles', 'Bundles', path('apps', props.appId, 'bundles')],
    ['devices', 'Devices', path('apps', props.appId, 'devices')],
    ['native', 'Native builds', path('apps', props.appId, 'native')],
  ];
  return (
    <>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/apps">Apps</Link> <span aria-hidden="true">/</span>{' '}
        <Link to={path('apps', props.appId)}>{app.data?.name ?? props.appId}</Link>
      </nav>
      <div className="page-head">
        <h1>
          {props.title ?? app.data?.name ?? props.appId}
          {props.title === undefined && app.data && app.data.name !== props.appId && (
            <code className="subtle">{props.appId}</code>
          )}
        </h1>
        {props.actions}
      </div>
      <ErrorBox error={app.error} />
      <nav className="tabbar" aria-label="App">
        {tabs.map(([tab, label, to]) => (
          <Link key={tab} to={to} aria-current={props.tab === tab ? 'page' : undefined}>
            {label}
          </Link>
        ))}
      </nav>
    </>
  );
}
