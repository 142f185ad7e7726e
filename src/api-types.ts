/**
 * The JSON shapes of the admin API, shared by the server (which builds them) and the CLI (which
 * reads them), so the two cannot drift apart.
 */
export interface AppJson {
  id: string;
  name: string;
  created_at: string;
}

export interface BundleJson {
  id: number;
  app_id: string;
  version: string;
  sha256: string;
  size: number | null;
  location: 'blob' | 'external';
  url: string;
  checksum: string;
  encrypted: boolean;
  session_key: string | null;
  key_id: string | null;
  min_native_version: string | null;
  notes: string | null;
  /** RSA-SHA256 signature (base64) of the bytes at `url`, by the publisher's key; null when unsigned. */
  signature: string | null;
  created_at: string;
  created_by: string | null;
}

export interface ChannelJson {
  name: string;
  app_id: string;
  version: string | null;
  /** A staged rollout in progress: its version and share of devices, else null. */
  rollout: { version: string; percent: number } | null;
  is_default: boolean;
  allow_self_assign: boolean;
  /** Platforms served; empty for all. */
  platforms: string[];
  allow_emulator: boolean;
  allow_dev: boolean;
  allow_prod: boolean;
  native_policy: string;
  allow_downgrade: boolean;
  failure_threshold: number | null;
  failure_min_devices: number;
  created_at: string;
  updated_at: string;
}

export interface HistoryJson {
  id: number;
  channel: string;
  action: string;
  version: string | null;
  previous_version: string | null;
  reason: string | null;
  at: string;
  actor: string | null;
}

export interface DeviceJson {
  device_id: string;
  app_id: string;
  platform: string;
  version_name: string;
  version_build: string;
  version_code: string;
  version_os: string;
  plugin_version: string;
  custom_id: string;
  channel: string;
  requested_channel: string;
  channel_override: string | null;
  self_assigned_channel: string | null;
  is_emulator: boolean;
  is_prod: boolean;
  first_seen: string;
  last_seen: string;
}

export interface TokenJson {
  id: number;
  name: string;
  scope: 'read' | 'publish' | 'admin';
  created_at: string;
  last_used_at: string | null;
  /** When the token stops working; null for never. */
  expires_at: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}
