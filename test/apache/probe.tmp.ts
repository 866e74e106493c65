import { startApache } from '../helpers/apache.js'
import { startFastify } from '../helpers/gateways.js'
import { Upstreams } from '../helpers/upstreams.js'
import { send, memberOf } from '../helpers/client.js'
const R = ['r1', 'r2', 'r3']
async function probe (name: string, opts: any, fn: (get: (p: string, c?: string, extra?: any) => Promise<string>, up: Upstreams) => Promise<void>) {
  for (const [label, start] of [['apache', startApache], ['fastify', startFastify]] as const) {
    const up = await Upstreams.start(R)
    const gw = await start({ members: up.members, ...opts }, { prefix: '' })
    const out: string[] = []
    await fn(async (p, c, extra = {}) => { const r = await send(gw.origin, { path: p, ...(c ? { cookie: c } : {}), ...extra }); const s = `${r.status} ${memberOf(r) ?? '-'} ${r.setCookie.join('|')}`; out.push(`${p} ${c ?? ''} -> ${s}`); return s }, up)
    console.log(`== ${name} [${label}]\n  ` + out.join('\n  '))
    await gw.close(); await up.close()
  }
}
const M1 = { stickySession: 'JSESSIONID|jsessionid' }
await probe('url edges', M1, async get => {
  await get('/app?jsessionid=&x=1', 'JSESSIONID=A.r3')
  await get('/app?jsessionid=', 'JSESSIONID=A.r3')
  await get('/app?jsessionid=ABC', 'JSESSIONID=A.r3')
  await get('/app;jsessionid=;x=ABC.r2', 'JSESSIONID=A.r3')
  await get('/app;jsessionid=ABC.r2&x=1', 'JSESSIONID=A.r3')
  await get('/app/jsessionid=ABC.r2', 'JSESSIONID=A.r3')
  await get('/app?a=jsessionid=ABC.r2', 'JSESSIONID=A.r3')
  await get('/app?jsessionid=ABC.r2%3Bx', 'JSESSIONID=A.r3')
  await get('/app;jsessionid=ABC.r2%3Fx', 'JSESSIONID=A.r3')
  await get('/app?jsessionid=ABC.', 'JSESSIONID=A.r3')
})
const M2 = { stickySession: 'ROUTEID', routeCookie: 'ROUTEID' }
await probe('cookie edges', M2, async get => {
  for (const c of ['a=1,ROUTEID=.r2', 'ROUTEID=.r2,x=1', 'ROUTEID =.r2', 'ROUTEID= .r2', 'fooROUTEID=.r2; ROUTEID=.r3', 'ROUTEID=.', 'a=1;ROUTEID=.r3', 'ROUTEID=..r2', 'ROUTEID=.r2 ', 'ROUTEID=.r2\t;x', 'a="x;ROUTEID=.r2"', 'ROUTEID=%2Er2'])
    await get('/', c)
  await get('/?ROUTEID=.r2')
  await get('/;ROUTEID=.r3')
})
await probe('retry 0', { ...M2, retry: 0 }, async (get, up) => {
  await up.at(1).stop()
  await get('/', 'ROUTEID=.r2'); await get('/', 'ROUTEID=.r2'); await get('/')
})
await probe('forcerecovery off', { ...M2, retry: 1, forceRecovery: false }, async (get, up) => {
  await up.close()
  await get('/'); await get('/', 'ROUTEID=.r2')
  await Promise.all(up.list.map(m => m.start()))
  await get('/'); await new Promise(r => setTimeout(r, 1100)); await get('/'); await get('/')
})
await probe('maxattempts 1, two down', { ...M2, maxAttempts: 1 }, async (get, up) => {
  await up.at(0).stop(); await up.at(1).stop()
  await get('/', 'ROUTEID=.r1'); await get('/', 'ROUTEID=.r1'); await get('/')
})
