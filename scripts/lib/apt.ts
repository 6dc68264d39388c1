// Debian packages the test services need (the cluster's node, the image build), installed with
// apt-get at the versions they were tested with, else at this release's own.
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

/** A program on the PATH, or in the sbin folders a non-login root shell may leave out. */
export function which(name: string): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir !== '' && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Installs `missing` with apt-get (as root); `who` starts every message ("Kubernetes", "image"). */
export async function aptInstall(missing: readonly DebianPackage[], who: string, logFile: string, say: (line: string) => void): Promise<void> {
  if (missing.length === 0) return;
  const names = missing.map((pkg) => pkg.name).join(' ');
  if (which('apt-get') === undefined) {
    throw new Error(`${who}: ${missing.map((pkg) => pkg.provides).join(', ')} missing: install the Debian packages ${names} (as root: apt-get install ${names}).`);
  }
  say(`${who}: apt-get install ${names} (log: ${logFile})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (pins: boolean) => run('apt-get', ['install', '-y', '--no-install-recommends', ...missing.map((pkg) => (pins ? `${pkg.name}=${pkg.version}` : pkg.name))], { env, logFile });
  let installed = await install(true);
  if (installed.code !== 0) {
    // Package lists never fetched on this machine, or another Debian release: update, try the
    // tested versions again, then this release's own.
    await run('apt-get', ['update'], { env, logFile });
    installed = await install(true);
    if (installed.code !== 0) {
      say(`${who}: the tested versions (${missing.map((pkg) => `${pkg.name}=${pkg.version}`).join(', ')}) are not available; installing this release's`);
      installed = await install(false);
    }
  }
  if (installed.code !== 0) throw new Error(`${who}: apt-get install ${names} failed (exit ${installed.code}); the last lines of ${logFile}:\n${tail(logFile)}`);
}
