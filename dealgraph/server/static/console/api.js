// The API as the console uses it: GraphQL over HTTP with the signed-in key, subscriptions over
// graphql-transport-ws (the vendored graphql-ws client), and every failure turned into a readable ApiError.
// A refused key (HTTP 401, UNAUTHENTICATED, or the socket closed 4403 because the key was revoked)
// signs the page out. The key lives in this tab's sessionStorage only.

const KEY_ITEM = "dealgraph.apiKey";
const endpoint = new URL("graphql", document.baseURI);
const socketUrl = endpoint.href.replace(/^http/, "ws");
const REFUSED_KEY = "The server refused the API key (unknown or revoked). Sign in again.";

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || null;
  }
}

let signedOutListener = () => {};
let socket = null;

export function onSignedOut(listener) {
  signedOutListener = listener;
}

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function signIn(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function signOut(reason) {
  sessionStorage.removeItem(KEY_ITEM);
  if (socket) socket.dispose();
  socket = null;
  signedOutListener(reason);
}

function refusal(error) {
  const code = error.extensions && error.extensions.code;
  if (code === "UNAUTHENTICATED") {
    signOut(REFUSED_KEY);
  }
  return code;
}

export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json",
        authorization: `Bearer ${apiKey() || ""}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(`The server could not be reached (${error.message}).`, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered HTTP ${response.status} without a GraphQL response.`, `HTTP_${response.status}`);
  }
  if (body.errors && body.errors.length) {
    const code = refusal(body.errors[0]);
    throw new ApiError(body.errors.map((error) => error.message).join("\n"), code);
  }
  return body.data;
}

/** The object of a mutation payload, or an ApiError listing the payload's `errors` (nothing was saved). */
export function saved(payload, field) {
  if (payload.errors && payload.errors.length) {
    const lines = payload.errors.map((error) => `${error.field}: ${error.message}`);
    throw new ApiError(`Not saved.\n${lines.join("\n")}`, payload.errors[0].code);
  }
  return payload[field];
}

function connection() {
  if (!socket) {
    socket = graphqlWs.createClient({
      url: socketUrl,
      lazy: true,
      connectionParams: () => ({ authorization: `Bearer ${apiKey() || ""}` }),
      shouldRetry: (event) => !(event && event.code === 4403),
      on: {
        closed: (event) => {
          if (event && event.code === 4403) signOut(REFUSED_KEY);
        },
      },
    });
  }
  return socket;
}

function readable(error) {
  if (Array.isArray(error)) {
    const code = error.length ? refusal(error[0]) : null;
    return new ApiError(error.map((item) => item.message).join("\n"), code);
  }
  if (error && typeof error.code === "number") {
    return new ApiError(`The live connection closed (${error.code}${error.reason ? `: ${error.reason}` : ""}).`, "WEBSOCKET");
  }
  return new ApiError((error && error.message) || String(error), null);
}

/** Subscribes; `handlers` gets next(data), error(ApiError) and complete(). Returns the function that unsubscribes. */
export function subscribe(query, variables, handlers) {
  return connection().subscribe(
    { query, variables },
    {
      next: (message) => {
        if (message.errors && message.errors.length) handlers.error(readable(message.errors));
        else handlers.next(message.data);
      },
      error: (error) => handlers.error(readable(error)),
      complete: () => handlers.complete && handlers.complete(),
    }
  );
}
