// GraphiQL on the server's own files. Queries and mutations go over HTTP with the headers of GraphiQL's
// Headers tab; subscriptions over graphql-transport-ws, whose connection_init carries the Authorization
// header from that tab (browsers cannot set headers on a WebSocket). A changed key opens a new socket.
"use strict";

const endpoint = new URL("graphql", document.baseURI);
const socketUrl = endpoint.href.replace(/^http/, "ws");
const fetchers = new Map();

function authorizationOf(headers) {
  for (const [name, value] of Object.entries(headers || {})) {
    if (name.toLowerCase() === "authorization") return String(value);
  }
  return "";
}

function fetcherFor(authorization) {
  if (!fetchers.has(authorization)) {
    for (const old of fetchers.values()) old.client.dispose();
    fetchers.clear();
    const client = graphqlWs.createClient({ url: socketUrl, lazy: true, connectionParams: { authorization } });
    fetchers.set(authorization, { client, fetch: GraphiQL.createFetcher({ url: endpoint.href, wsClient: client }) });
  }
  return fetchers.get(authorization).fetch;
}

// GraphiQL's fetcher tells a subscription from the editor's parsed document, which lags an edit made just
// before running it (the subscription would then go over HTTP and be refused): parse the text sent instead.
function parsed(query) {
  try {
    return GraphiQL.GraphQL.parse(query);
  } catch {
    return undefined;
  }
}

function fetcher(params, options) {
  const current = { ...options, documentAST: parsed(params.query) || (options && options.documentAST) };
  return fetcherFor(authorizationOf(current.headers))(params, current);
}

const DEFAULT_QUERY = `# Set your key in Headers below, then run (Ctrl-Enter).
{
  viewer { role user { email } tenant { name } }
}
`;

ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: '{\n  "Authorization": "Bearer <your API key>"\n}',
    defaultEditorToolsVisibility: "headers",
    shouldPersistHeaders: false,
  })
);
