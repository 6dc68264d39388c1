// Debian packages the test services need (the cluster's node, the image build), installed with
// apt-get at the versions they were tested with, else at this release's own.
//
// Every group's missing packages go into one apt-get transaction, run once before the services
// start: two installs at the same time lose dpkg's lock to each other (exit 100), which only a
// machine without the packages ever sees. The install also waits for a lock that another apt
// (unattended-upgrades on a new machine, a second checkout's services:up) holds.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run, tail } from './process.ts';

export interface DebianPackage {
  name: string;
  /** The version it was tested with (Debian 12). */
  version: string;
  /** What it gives, for the message when it cannot be installed. */
  provides: string;
}

/** Packages one service needs and this machine lacks; `who` starts every message ("Kubernetes", "image"). */
export interface PackageGroup {
  who: string;
  missing: readonly DebianPackage[];
}

/** How long an install waits for a dpkg lock held by another apt before it gives up. */
const LOCK_TIMEOUT_S = 600;
const APT_TIMEOUT_MS = 30 * 60_000;

/** A program on the PATH, or in the sbin folders a non-login root shell may leave out. */
export function which(name: string): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir !== '' && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** True when the package lists this machine has fetched offer `name` at exactly `version`. */
async function offered(pkg: DebianPackage): Promise<boolean> {
  const shown = await run('apt-cache', ['show', '--no-all-versions', `${pkg.name}=${pkg.version}`]).catch(() => undefined);
  return shown?.code === 0 && shown.stdout.includes(`Version: ${pkg.version}`);
}

/**
 * Installs every group's missing packages in one apt-get transaction (as root). `apt-get update`
 * runs at most once: when a tested version is not in the lists, or when the install fails
 * (lists older than the mirror). A tested version the mirror no longer serves falls back to this
 * release's version, said in one line for each group it touches.
 */
export async function aptInstall(groups: readonly PackageGroup[], logFile: string, say: (line: string) => void): Promise<void> {
  const wanted = groups.filter((group) => group.missing.length > 0);
  if (wanted.length === 0) return;
  const names = (packages: readonly DebianPackage[]) => packages.map((pkg) => pkg.name).join(' ');
  const all = wanted.flatMap((group) => group.missing);
  const forWhom = wanted.map((group) => `${group.who}: ${names(group.missing)}`).join('; ');
  if (which('apt-get') === undefined) {
    throw new Error(`Debian packages missing (${forWhom}): install them (as root: apt-get install ${names(all)}).`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`Debian packages missing (${forWhom}): run \`npm run services:up\` as root, or install them first (apt-get install ${names(all)}).`);
  }
  say(`Debian packages: apt-get install ${names(all)} in one transaction (${forWhom}; log: ${logFile})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lockWait = ['-o', `DPkg::Lock::Timeout=${LOCK_TIMEOUT_S}`];
  let updated = false;
  const update = async () => {
    if (updated) return;
    updated = true;
    const result = await run('apt-get', [...lockWait, 'update'], { env, logFile, timeoutMs: APT_TIMEOUT_MS });
    if (result.code !== 0) say(`Debian packages: apt-get update exited ${result.code}; trying with the lists this machine has (log: ${logFile})`);
  };
  const unavailable = async () => {
    const found = await Promise.all(all.map(offered));
    return new Set(all.filter((_, index) => !found[index]).map((pkg) => pkg.name));
  };
  let unpinned = await unavailable();
  // Package lists never fetched on this machine, or older than the tested versions.
  if (unpinned.size > 0) { await update(); unpinned = await unavailable(); }
  const told = new Set<string>();
  const install = () => {
    for (const group of wanted) {
      const fallen = group.missing.filter((pkg) => unpinned.has(pkg.name) && !told.has(pkg.name));
      for (const pkg of fallen) told.add(pkg.name);
      if (fallen.length > 0) say(`${group.who}: the tested versions (${fallen.map((pkg) => `${pkg.name}=${pkg.version}`).join(', ')}) are not available; installing this release's`);
    }
    return run('apt-get', [...lockWait, 'install', '-y', '--no-install-recommends',
      ...all.map((pkg) => (unpinned.has(pkg.name) ? pkg.name : `${pkg.name}=${pkg.version}`))], { env, logFile, timeoutMs: APT_TIMEOUT_MS });
  };
  let installed = await install();
  if (installed.code !== 0 && !updated) {
    // Lists that name versions the mirror has since replaced: fetch them once and try again.
    await update();
    unpinned = await unavailable();
    installed = await install();
  }
  if (installed.code !== 0) throw new Error(`Debian packages: apt-get install ${names(all)} failed (exit ${installed.code}); the last lines of ${logFile}:\n${tail(logFile)}`);
}
