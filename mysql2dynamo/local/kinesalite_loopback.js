// kinesalite's own CLI listens on every interface and has no --host option; the local stack
// must stay on the loopback address, so start the same server bound to the given host.
// usage: node kinesalite_loopback.js <node_modules> <host> <port> <path>
const [nodeModules, host, port, path] = process.argv.slice(2)
const kinesalite = require(require('path').join(nodeModules, 'kinesalite'))
const server = kinesalite({ path, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 })
server.listen(Number(port), host, () => console.log(`kinesalite listening at http://${host}:${port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
