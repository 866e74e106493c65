/**
 * `npm run demo`: three demo members behind the Fastify gateway, in Method 2 (the balancer
 * writes ROUTEID=.<route>), and what to try with curl. The STICKY_* variables still apply
 * (README.md); only STICKY_ROUTE_COOKIE defaults to ROUTEID here.
 */
import { startFastifyGateway } from './fastify/gateway.js'
import { runExample } from './shared/run.js'

const { origin, setup } = await runExample('fastify', startFastifyGateway, { STICKY_ROUTE_COOKIE: 'ROUTEID' })
const routes = setup.members.map(m => m.route).join(', ')
const cookie = typeof setup.options.routeCookie === 'string' ? setup.options.routeCookie : undefined
const [first] = setup.members

process.stdout.write(`
Try it:
  curl -s ${origin}/                            # repeat: a new client each time, members in turn (${routes})
  rm -f /tmp/jar
  curl -s -c /tmp/jar -b /tmp/jar ${origin}/    # repeat: the same member, the visit count rising
${cookie === undefined || first === undefined
  ? ''
  : `  curl -si ${origin}/ | grep -i set-cookie      # the member's JSESSIONID, then the balancer's ${cookie}=.<route>
  curl -s -b '${cookie}=.${first.route}' ${origin}/        # a client whose cookie names ${first.route} goes there
`}
Stop with Ctrl-C.
`)
