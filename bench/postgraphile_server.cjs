// PostGraphile 5 over dealgraph's tables, for bench/read_throughput.py (which installs PostGraphile
// into a cache folder and runs this file with NODE_PATH pointing there; nothing here is committed).
//
// Environment: DATABASE_URL (an owner/superuser connection: introspection must see the tables),
// PORT, and optionally PG_ROLE + TENANT_ID: every request then runs as that role with that tenant
// set, exactly like dealgraph's tenant transactions, so row-level security applies to PostGraphile too.
"use strict";

const http = require("node:http");
const { postgraphile } = require("postgraphile");
const { PostGraphileAmberPreset } = require("postgraphile/presets/amber");
const { makePgService } = require("postgraphile/adaptors/pg");
const { grafserv } = require("postgraphile/grafserv/node");

const role = process.env.PG_ROLE;
const tenant = process.env.TENANT_ID;
const pgSettings = role && tenant ? { role, "app.tenant_id": tenant } : undefined;

const preset = {
  extends: [PostGraphileAmberPreset],
  // Order by any column (deals by amount), as dealgraph allows, not only indexed ones.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.POOL_MAX || 10) },
    }),
  ],
  grafast: { explain: false, context: () => (pgSettings ? { pgSettings } : {}) },
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false, maxRequestLength: 100000 },
};

async function main() {
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = http.createServer();
  await serv.addTo(server);
  const port = Number(process.env.PORT);
  server.listen(port, "127.0.0.1", () => console.log(`postgraphile listening on 127.0.0.1:${port}`));
  const stop = async () => {
    server.close();
    await pgl.release();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
