#!/usr/bin/env node
// Makes sure the system programs the tests talk to are there before the test run:
// apache2 (the Apache parity test runs the same scenarios against a real Apache httpd 2.4),
// openssl (a throwaway certificate for the HTTPS tests) and python3 (a member that drops
// connection attempts). On a Debian or Ubuntu machine where we are root (CI), missing ones are
// installed with apt-get; anywhere else the run stops with the command to run.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const needs = [
  { program: 'apache2', path: '/usr/sbin/apache2', pkg: 'apache2' },
  { program: 'openssl', pkg: 'openssl' },
  { program: 'python3', pkg: 'python3' }
]

const has = ({ program, path }) =>
  (path !== undefined && existsSync(path)) || spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0

const missing = needs.filter(n => !has(n))
if (missing.length > 0) {
  const pkgs = missing.map(n => n.pkg)
  const command = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`
  const canInstall = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0
  if (!canInstall) {
    console.error(`The tests need ${missing.map(n => n.program).join(', ')}. Install ${pkgs.length > 1 ? 'them' : 'it'} first: sudo ${command}`)
    process.exit(1)
  }
  console.log(`Installing ${pkgs.join(', ')} for the tests (${command})`)
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}
