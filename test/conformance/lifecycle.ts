/**
 * The member-lifecycle suite (issue 3), run through real HTTP against real upstream servers for
 * every adapter: drain, hot standby, disabled and stopped members, lbSet tiers, failOnStatus,
 * timeouts with failOnTimeout, active health checks with consecutive counts, and members added
 * and removed at runtime under traffic. The shared spec is "Member states" and "Failures" of
 * shared/spec/apache-behaviour.md.
 */
import type { HealthEvent, StateEvent, StickyOptions } from '@stickyroute/core'
import t, { type Test } from 'tap'
import { shouldNotSetRouteCookie, shouldSetRouteCookie } from '../helpers/assert.js'
import { memberOf, send, type ClientRequest, type ClientResponse } from '../helpers/client.js'
import { R1, R2, R3, ROUTES } from '../helpers/spec-cases.js'
import { Upstream, Upstreams } from '../helpers/upstreams.js'
import type { ControlledGateway, LifecycleHarness } from './harness.js'

const METHOD_2: Partial<StickyOptions> = { stickySession: 'ROUTEID', routeCookie: 'ROUTEID' }

interface Setup {
  gw: ControlledGateway
  up: Upstreams
  get: (req?: Partial<ClientRequest>) => Promise<ClientResponse>
}

/** Resolves when `predicate` holds, polling every 10 ms; fails after `ms`. */
async function until (what: string, predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** The members `n` new clients go to. */
async function newClients (get: Setup['get'], n: number): Promise<Array<string | undefined>> {
  const seen: Array<string | undefined> = []
  for (let i = 0; i < n; i++) seen.push(memberOf(await get()))
  return seen
}

export function runLifecycle (harness: LifecycleHarness): void {
  t.test(`${harness.name}: member lifecycle`, async t => {
    const setup = async (t: Test, extra: Partial<StickyOptions> = {}, members?: (up: Upstreams) => StickyOptions['members'],
      routes: readonly string[] = ROUTES): Promise<Setup> => {
      const up = await Upstreams.start(routes)
      const gw = await harness.start({ members: members?.(up) ?? up.members, ...METHOD_2, ...extra }, { prefix: '' })
      t.teardown(async () => {
        await gw.close()
        await up.close()
      })
      const get = async (req: Partial<ClientRequest> = {}): Promise<ClientResponse> => await send(gw.origin, { path: '/', ...req })
      return { gw, up, get }
    }
    const flagged = (up: Upstreams, flags: Record<string, Partial<StickyOptions['members'][number]>>): StickyOptions['members'] =>
      up.members.map(m => ({ ...m, ...flags[m.route] }))

    t.test('drain: the draining member keeps its sticky clients, new clients go elsewhere', async t => {
      const { gw, get } = await setup(t)
      const pinned = await get()
      t.equal(memberOf(pinned), R1)
      gw.balancer.set(R1, { draining: true })
      for (let i = 0; i < 3; i++) {
        const res = await get({ cookie: `ROUTEID=.${R1}` })
        t.equal(memberOf(res), R1, 'the sticky client stays on the draining member')
        shouldNotSetRouteCookie(t, res)
      }
      const fresh = await newClients(get, 4)
      t.notOk(fresh.includes(R1), `new clients avoid the draining member: ${fresh.join(', ')}`)
      t.same(new Set(fresh), new Set([R2, R3]))
      gw.balancer.set(R1, { draining: false })
      // Its three sticky hits while draining count against it (Apache's accounting): it catches up.
      t.same(await newClients(get, 9), [R2, R3, R2, R3, R2, R3, R2, R3, R1], 'undrained: it takes new clients again')
    })

    t.test('drain from the options (status=+N)', async t => {
      const { get } = await setup(t, {}, up => flagged(up, { [R2]: { draining: true } }))
      t.same(await newClients(get, 4), [R1, R3, R1, R3])
      t.equal(memberOf(await get({ cookie: `ROUTEID=.${R2}` })), R2)
    })

    t.test('hot standby: only when no normal member is usable; its own clients are served', async t => {
      const { gw, up, get } = await setup(t, {}, up => flagged(up, { [R3]: { hotStandby: true } }))
      t.same(await newClients(get, 4), [R1, R2, R1, R2], 'the standby takes no new clients')
      const own = await get({ cookie: `ROUTEID=.${R3}` })
      t.equal(memberOf(own), R3, 'a route naming the standby is honoured')
      shouldNotSetRouteCookie(t, own)
      await up.at(0).stop()
      await up.at(1).stop()
      const over = await get({ cookie: `ROUTEID=.${R1}` })
      t.equal(over.status, 200)
      t.equal(memberOf(over), R3, 'both normal members refused: the standby takes over')
      shouldSetRouteCookie(t, over, R3)
      t.same(await newClients(get, 2), [R3, R3], 'and takes the new clients')
      t.same(gw.balancer.members().map(m => m.status), ['E', 'E', 'H'])
    })

    t.test('disabled and stopped members: no new clients; their sticky clients fail over with a new cookie', async t => {
      for (const flag of ['disabled', 'stopped'] as const) {
        const { gw, get, up } = await setup(t, {}, up => flagged(up, { [R2]: { [flag]: true } }))
        t.same(await newClients(get, 4), [R1, R3, R1, R3], `${flag}: never picked`)
        const moved = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(moved.status, 200)
        t.not(memberOf(moved), R2, `${flag}: its sticky client went elsewhere`)
        shouldSetRouteCookie(t, moved, memberOf(moved) ?? '')
        t.equal(up.at(1).seen.length, 0, `${flag}: nothing reached it`)
        gw.balancer.set(R2, { [flag]: false })
        t.equal(memberOf(await get({ cookie: `ROUTEID=.${R2}` })), R2, `${flag} cleared: its route goes there again`)
      }
    })

    t.test('disabled with noFailover: its clients get the balancer\'s 503, without a cookie', async t => {
      const { get } = await setup(t, { noFailover: true }, up => flagged(up, { [R1]: { disabled: true } }))
      const res = await get({ cookie: `ROUTEID=.${R1}` })
      t.equal(res.status, 503)
      t.same(res.setCookie, [])
      t.equal(memberOf(await get()), R2, 'new clients are still balanced')
    })

    t.test('lbSet: the lower tier takes every new client; a route to a higher tier is honoured', async t => {
      const { up, get } = await setup(t, {}, up => flagged(up, { [R1]: { lbSet: 1 }, [R3]: { lbSet: 1 } }))
      t.same(await newClients(get, 3), [R2, R2, R2], 'tier 0 first')
      t.equal(memberOf(await get({ cookie: `ROUTEID=.${R3}` })), R3, 'a tier-1 route is honoured')
      await up.at(1).stop()
      // The sticky hit on R3 above counts against it: R1 leads by one, then they alternate.
      t.same(await newClients(get, 4), [R1, R1, R3, R1], 'tier 0 down: tier 1 takes the new clients')
    })

    t.test('failOnStatus: the member\'s 503 reaches the client, then the member is in error', async t => {
      const { gw, get } = await setup(t, { failOnStatus: [503] })
      const bad = await get({ headers: { 'x-test-status': '503' } })
      t.equal(bad.status, 503, 'the member\'s own answer goes to the client')
      t.equal(memberOf(bad), R1)
      shouldSetRouteCookie(t, bad, R1)
      await until('R1 in error', () => gw.balancer.member(R1).inError)
      const moved = await get({ cookie: `ROUTEID=.${R1}` })
      t.equal(memberOf(moved), R2, 'its client is failed over')
      shouldSetRouteCookie(t, moved, R2)
      t.same(await newClients(get, 2), [R3, R2], 'new clients skip it')
      const other = await get({ cookie: `ROUTEID=.${R3}`, headers: { 'x-test-status': '500' } })
      t.equal(other.status, 500)
      t.notOk(gw.balancer.member(R3).inError, 'a status not listed leaves the member alone')
      t.match(gw.balancer.member(R1), { failures: 1, requests: 1 })
    })

    t.test('timeout with failOnTimeout: 504 within the timeout, the member in error, the next request elsewhere', async t => {
      const { gw, get } = await setup(t, { timeout: 0.3, failOnTimeout: true })
      const started = Date.now()
      const slow = await get({ cookie: `ROUTEID=.${R1}`, headers: { 'x-test-delay': '3000' } })
      const took = Date.now() - started
      t.equal(slow.status, 504)
      t.ok(took >= 250 && took < 2500, `answered after the timeout, not the member (${took} ms)`)
      t.same(slow.setCookie, [], 'the balancer\'s own 504 carries no cookie')
      t.ok(gw.balancer.member(R1).inError, 'the member is in error')
      const next = await get({ cookie: `ROUTEID=.${R1}` })
      t.equal(next.status, 200)
      t.not(memberOf(next), R1, 'its client is failed over')
    })

    t.test('timeout without failOnTimeout: 504, the member stays usable; a member\'s own timeout wins', async t => {
      const { gw, get } = await setup(t, { timeout: 10 }, up => flagged(up, { [R1]: { timeout: 0.3 } }))
      const slow = await get({ cookie: `ROUTEID=.${R1}`, headers: { 'x-test-delay': '3000' } })
      t.equal(slow.status, 504, 'the member\'s 0.3 s, not the balancer\'s 10 s')
      t.notOk(gw.balancer.member(R1).inError)
      t.equal(memberOf(await get({ cookie: `ROUTEID=.${R1}` })), R1, 'the client stays')
      const patient = await get({ cookie: `ROUTEID=.${R2}`, headers: { 'x-test-delay': '500' } })
      t.equal(patient.status, 200, 'another member has the balancer\'s 10 s')
    })

    t.test('active health checks: out after N fails in a row, back after M passes in a row', async t => {
      const health = { method: 'GET' as const, uri: '/hc', interval: 0.03, fails: 3, passes: 2 }
      const { gw, up, get } = await setup(t, { healthCheck: health })
      const results: HealthEvent[] = []
      const states: StateEvent[] = []
      gw.balancer.on('health', e => { if (e.member.route === R2) results.push(e) })
      gw.balancer.on('state', e => { if (e.member.route === R2) states.push(e) })
      await until('checks run', () => up.at(1).healthChecks >= 2)
      up.at(1).healthStatus = 503
      await until('R2 out', () => gw.balancer.member(R2).healthCheckFailed)
      const failsInARow = results.slice(results.findIndex(e => !e.ok))
      t.same(failsInARow.map(e => e.ok), [false, false, false], 'taken out at the third fail in a row, not before')
      t.same(states.map(e => [e.flag, e.value, e.reason]), [['healthCheckFailed', true, 'health-check-failed']])
      t.same(await newClients(get, 4), [R1, R3, R1, R3], 'no new clients while it fails its checks')
      const moved = await get({ cookie: `ROUTEID=.${R2}` })
      t.not(memberOf(moved), R2, 'its sticky clients fail over')
      shouldSetRouteCookie(t, moved, memberOf(moved) ?? '')
      const before = results.length
      up.at(1).healthStatus = 200
      await until('R2 back', () => !gw.balancer.member(R2).healthCheckFailed)
      t.same(results.slice(before).filter(e => e.ok).length, 2, 'back at the second pass in a row')
      t.equal(memberOf(await get({ cookie: `ROUTEID=.${R2}` })), R2, 'its route goes there again')
    })

    t.test('active health checks: a flapping member that never fails N times in a row stays in', async t => {
      const health = { method: 'GET' as const, uri: '/hc', interval: 0.02, fails: 2, passes: 1 }
      const up0 = await Upstreams.start(ROUTES)
      up0.at(0).healthScript = [500, 200, 500, 200, 500, 200, 500, 200, 500, 200, 500, 200]
      const gw = await harness.start({ members: up0.members, ...METHOD_2, healthCheck: health }, { prefix: '' })
      t.teardown(async () => { await gw.close(); await up0.close() })
      const results: boolean[] = []
      gw.balancer.on('health', e => { if (e.member.route === R1) results.push(e.ok) })
      await until('the script ran out', () => up0.at(0).healthScript.length === 0 && results.length >= 12)
      t.same(results.slice(0, 12), [false, true, false, true, false, true, false, true, false, true, false, true])
      t.notOk(gw.balancer.member(R1).healthCheckFailed, 'never out: the fails were never consecutive')
    })

    t.test('active health checks: TCP, and a check that clears the error state', async t => {
      const { gw, up, get } = await setup(t, { healthCheck: { method: 'TCP', interval: 0.03 }, retry: 3600 })
      await up.at(0).stop()
      const moved = await get({ cookie: `ROUTEID=.${R1}` })
      t.not(memberOf(moved), R1)
      t.ok(gw.balancer.member(R1).inError || gw.balancer.member(R1).healthCheckFailed, 'R1 out')
      await until('the TCP check fails', () => gw.balancer.member(R1).healthCheckFailed)
      await up.at(0).start()
      await until('back after a TCP pass, well before retry', () => gw.balancer.member(R1).status === 'Ok')
      t.equal(memberOf(await get({ cookie: `ROUTEID=.${R1}` })), R1)
    })

    t.test('members added and removed at runtime, under traffic, without a failed request', async t => {
      const { gw, up, get } = await setup(t)
      const extra = new Upstream('tomcat_instance_4')
      await extra.start()
      t.teardown(async () => { await extra.stop() })
      const traffic = { running: true }
      const failures: string[] = []
      const served = new Map<string, number>()
      const client = async (cookie: string | undefined): Promise<void> => {
        while (traffic.running) {
          const res = await get(cookie === undefined ? {} : { cookie })
          if (res.status !== 200) failures.push(`${res.status} ${res.body.slice(0, 80)}`)
          const m = memberOf(res) ?? '?'
          served.set(m, (served.get(m) ?? 0) + 1)
        }
      }
      const clients = Promise.all([client(undefined), client(undefined), client(`ROUTEID=.${R1}`), client(`ROUTEID=.${R2}`)])
      const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 150)) }
      await settle()
      const added = gw.balancer.add({ url: extra.url, route: 'tomcat_instance_4' })
      t.equal(added.disabled, true, 'added disabled, as Apache')
      await settle()
      t.equal(extra.seen.length, 0, 'nothing reaches a disabled new member')
      gw.balancer.set(extra.url, { disabled: false })
      await settle()
      gw.balancer.set(R1, { draining: true })
      await settle()
      const removed = await gw.balancer.remove(R1)
      t.equal(removed.busy, 0, 'removed once its requests finished')
      const seenByR1 = up.at(0).seen.length
      await settle()
      traffic.running = false
      await clients
      t.same(failures, [], 'no request failed')
      t.ok(extra.seen.length > 0, 'the new member took clients once enabled')
      t.equal(up.at(0).seen.length, seenByR1, 'nothing reached the removed member')
      t.same(gw.balancer.members().map(m => m.route), [R2, R3, 'tomcat_instance_4'])
      const repinned = await get({ cookie: `ROUTEID=.${R1}` })
      t.equal(repinned.status, 200)
      shouldSetRouteCookie(t, repinned, memberOf(repinned) ?? '')
    })

    t.test('runtime changes of weight, tier and route take effect on the next request', async t => {
      const { gw, get } = await setup(t)
      gw.balancer.update(R3, { loadFactor: 2 })
      t.same(await newClients(get, 4), [R3, R1, R2, R3])
      gw.balancer.update(R1, { lbSet: 1 })
      gw.balancer.update(R3, { lbSet: 1 })
      t.same(await newClients(get, 2), [R2, R2])
      gw.balancer.update(R2, { route: 'renamed' })
      const old = await get({ cookie: `ROUTEID=.${R2}` })
      t.equal(memberOf(old), R2, 'the same server (x-member is its own name)')
      shouldSetRouteCookie(t, old, 'renamed')
      t.same(await get({ cookie: 'ROUTEID=.renamed' }).then(r => r.setCookie), [], 'the new route is sticky')
    })
  })
}
