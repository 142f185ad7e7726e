import { enc, type NativeBuildJson } from '../api.js';
import { Badge, Card, Empty, ErrorBox, formatBytes, Loading, Time } from '../components.js';
import { useApi } from '../hooks.js';
import { AppHeader } from './app-nav.js';

/**
 * The app's native test builds (APK, AAB, IPA), grouped by native channel and platform, newest
 * first, each with its download link and the channel's stable "latest" link.
 */
export function NativeBuildsPage({ appId }: { appId: string }) {
  const builds = useApi<{ items: NativeBuildJson[] }>(`/apps/${enc(appId)}/native`);
  const groups = new Map<string, NativeBuildJson[]>();
  for (const build of builds.data?.items ?? []) {
    const key = `${build.channel} · ${build.platform}`;
    groups.set(key, [...(groups.get(key) ?? []), build]);
  }
  return (
    <div className="page">
      <AppHeader appId={appId} tab="native" />
      <ErrorBox error={builds.error} />
      {builds.loading && !builds.data && <Loading />}
      {builds.data && groups.size === 0 && (
        <Card title="Native builds">
          <Empty>
            No native builds yet. Upload an APK, AAB or IPA with{' '}
            <code>overair native upload FILE --platform android --version 1.4.0 --channel beta</code>.
          </Empty>
        </Card>
      )}
      {[...groups].map(([key, items]) => (
        <Card
          key={key}
          title={key}
          actions={
            <a href={items[0]!.latest_url} title="A stable link: always the newest build">
              Download latest
            </a>
          }
        >
          <div className="table-wrap">
            <table aria-label={`Native builds ${key}`}>
              <thead>
                <tr>
                  <th>Version</th>
                  <th className="hide-sm">Build</th>
                  <th>Kind</th>
                  <th className="num">Size</th>
                  <th className="hide-sm">Uploaded</th>
                  <th className="hide-sm">Notes</th>
                  <th>Download</th>
                </tr>
              </thead>
              <tbody>
                {items.map((build, index) => (
                  <tr key={`${build.platform} ${build.version}`}>
                    <td>
                      {build.version} {index === 0 && <Badge tone="good">latest</Badge>}
                    </td>
                    <td className="hide-sm">{build.version_code ?? '—'}</td>
                    <td>{build.file_kind.toUpperCase()}</td>
                    <td className="num">{formatBytes(build.size)}</td>
                    <td className="hide-sm">
                      <Time at={build.created_at} />
                    </td>
                    <td className="hide-sm">{build.notes ?? ''}</td>
                    <td>
                      <a href={build.download_url} download>
                        {build.file_kind.toUpperCase()}
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      ))}
    </div>
  );
}
