/**
 * `npm run demo`: three demo members behind the Fastify gateway, in Method 2 (the balancer
 * writes ROUTEID=.<route>), a small balancer-manager to drain and enable members at runtime, and
 * what to try with curl. The STICKY_* variables still apply (README.md); only
 * STICKY_ROUTE_COOKIE defaults to ROUTEID here.
 *
 * The balancer-manager (`/balancer-manager`) is the demo's: it shows the runtime-control API
 * (`app.stickyroute`). A production gateway would put such routes behind authentication, or on
 * a port of their own.
 */
import stickyroute from '@stickyroute/fastify'
import Fastify from 'fastify'
import { runExample, type StartGateway } from './shared/run.js'

const FLAGS = ['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors'] as const

const startDemoGateway: StartGateway = async ({ members, options, port, host }) => {
  const app = Fastify({ logger: false })
  await app.register(stickyroute, { ...options, members })
  // GET: every member with its state and counters. POST /balancer-manager/<route>?draining=1:
  // set (1) or clear (0) flags; the change applies from the next request on.
  app.get('/balancer-manager', async () => app.stickyroute.members())
  app.post<{ Params: { route: string }, Querystring: Record<string, string> }>('/balancer-manager/:route', async (request, reply) => {
    const flags: Record<string, boolean> = {}
    for (const [name, value] of Object.entries(request.query)) {
      if (!(FLAGS as readonly string[]).includes(name) || (value !== '0' && value !== '1')) {
        return await reply.code(400).send({ error: `flags are ${FLAGS.join(', ')}, each =1 or =0` })
      }
      flags[name] = value === '1'
    }
    try {
      return app.stickyroute.set(request.params.route, flags)
    } catch (error) {
      return await reply.code(404).send({ error: (error as Error).message })
    }
  })
  await app.listen({ port, host })
  return { server: app.server, close: async () => { await app.close() } }
}

const { origin, setup } = await runExample('fastify', startDemoGateway, { STICKY_ROUTE_COOKIE: 'ROUTEID' })
const routes = setup.members.map(m => m.route).join(', ')
const cookie = typeof setup.options.routeCookie === 'string' ? setup.options.routeCookie : undefined
const [first, second] = setup.members

process.stdout.write(`
Try it:
  curl -s ${origin}/                            # repeat: a new client each time, members in turn (${routes})
  rm -f /tmp/jar
  curl -s -c /tmp/jar -b /tmp/jar ${origin}/    # repeat: the same member, the visit count rising
${cookie === undefined || first === undefined
  ? ''
  : `  curl -si ${origin}/ | grep -i set-cookie      # the member's JSESSIONID, then the balancer's ${cookie}=.<route>
  curl -s -b '${cookie}=.${first.route}' ${origin}/        # a client whose cookie names ${first.route} goes there
`}${first === undefined || second === undefined
  ? ''
  : `
A drain (before a deploy): ${first.route}'s users stay on it, new users go elsewhere:
  curl -s -b '${cookie ?? 'ROUTEID'}=.${first.route}' ${origin}/          # a user of ${first.route}
  curl -s -X POST '${origin}/balancer-manager/${first.route}?draining=1'
  curl -s -b '${cookie ?? 'ROUTEID'}=.${first.route}' ${origin}/          # still ${first.route}: its session goes on
  curl -s ${origin}/                            # repeat: new clients never get ${first.route}
  curl -s ${origin}/balancer-manager            # states ("status": "N") and counters
  curl -s -X POST '${origin}/balancer-manager/${first.route}?draining=0'  # back in the rotation
`}
Stop with Ctrl-C.
`)
