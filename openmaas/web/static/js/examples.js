// Ready-to-run requests in cURL, Python (openai SDK) and Node.js (openai package): a chat call for the
// OpenAI-compatible API or the portal API, or a raw completion (/v1/completions, OpenAI-compatible
// only). The model detail page and the playground's API tab both show these; the key always comes
// from OPENMAAS_API_KEY.

export const LANGUAGES = { curl: "cURL", python: "Python", node: "Node.js" };

export const DIALECTS = {
  openai: { path: "/v1", label: "OpenAI-compatible" },
  portal: { path: "/api/v1/ai", label: "Portal" },
};

// Parameter names on the wire: OpenAI's snake_case, the portal's camelCase (seed contract).
const portalName = (name) => name.replace(/_([a-z])/g, (_match, letter) => letter.toUpperCase());
// Not among the OpenAI Python SDK's typed parameters of each call: Python passes them in extra_body.
const EXTRA_PARAMS = {
  chat: new Set(["top_k", "min_p", "top_a", "repetition_penalty"]),
  completion: new Set(["top_k", "min_p", "top_a", "repetition_penalty", "response_format"]),
};
const kindOf = (request) => (request.prompt !== undefined ? "completion" : "chat");

export function baseUrlOf(dialect, origin) {
  return origin + DIALECTS[dialect].path;
}

// kind: "chat" (messages) or "completion" (a raw prompt; the OpenAI-compatible API only).
export function endpointOf(dialect, origin, kind = "chat") {
  return `${baseUrlOf(dialect, origin)}/${kind === "completion" ? "completions" : "chat/completions"}`;
}

const isMissing = (value) => value === null || value === undefined || Number.isNaN(value);

// The JSON body of the call; params is {name: value} in OpenAI's names, null values left out.
// A request has messages (chat) or a prompt (a raw completion).
export function requestBody(dialect, { model, messages, prompt, params = {}, stream = false }) {
  const body = prompt !== undefined ? { model, prompt } : { model, messages };
  for (const [name, value] of Object.entries(params)) {
    if (isMissing(value)) continue;
    body[dialect === "portal" ? portalName(name) : name] = value;
  }
  body.stream = stream;
  return body;
}

function shellQuote(text) {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function curl(dialect, origin, request) {
  const body = JSON.stringify(requestBody(dialect, request), null, 2);
  return [
    `curl ${request.stream ? "--no-buffer " : ""}${shellQuote(endpointOf(dialect, origin, kindOf(request)))} \\`,
    "  --header 'Content-Type: application/json' \\",
    '  --header "Authorization: Bearer $OPENMAAS_API_KEY" \\',
    `  --data ${shellQuote(body)}`,
  ].join("\n");
}

// JSON text is a valid Python literal for strings and numbers; booleans and null differ.
function pythonValue(value, indent) {
  if (value === true) return "True";
  if (value === false) return "False";
  if (value === null) return "None";
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    const inner = value.map((item) => `${indent}    ${pythonValue(item, `${indent}    `)},`);
    return `[\n${inner.join("\n")}\n${indent}]`;
  }
  if (typeof value === "object") {
    const items = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${pythonValue(item, indent)}`);
    return `{${items.join(", ")}}`;
  }
  return JSON.stringify(value);
}

function python(dialect, origin, request) {
  const kind = kindOf(request);
  const lines = [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    "client = OpenAI(",
    `    base_url=${JSON.stringify(baseUrlOf(dialect, origin))},`,
    '    api_key=os.environ["OPENMAAS_API_KEY"],',
    ")",
    "",
    kind === "completion" ? "completion = client.completions.create(" : "completion = client.chat.completions.create(",
    `    model=${JSON.stringify(request.model)},`,
    kind === "completion"
      ? `    prompt=${JSON.stringify(request.prompt)},`
      : `    messages=${pythonValue(request.messages, "    ")},`,
  ];
  const extra = {};
  for (const [name, value] of Object.entries(request.params || {})) {
    if (isMissing(value)) continue;
    if (EXTRA_PARAMS[kind].has(name)) extra[name] = value;
    else lines.push(`    ${name}=${pythonValue(value, "    ")},`);
  }
  if (Object.keys(extra).length) lines.push(`    extra_body=${pythonValue(extra, "    ")},`);
  lines.push(`    stream=${request.stream ? "True" : "False"},`, ")", "");
  if (kind === "completion" && request.stream) {
    lines.push(
      "for chunk in completion:",
      "    if chunk.choices:",
      '        print(chunk.choices[0].text, end="", flush=True)',
      "print()",
    );
  } else if (kind === "completion") {
    lines.push("print(completion.choices[0].text)");
  } else if (request.stream) {
    lines.push(
      "for chunk in completion:",
      "    if chunk.choices and chunk.choices[0].delta.content:",
      '        print(chunk.choices[0].delta.content, end="", flush=True)',
      "print()",
    );
  } else {
    lines.push("print(completion.choices[0].message.content)");
  }
  return lines.join("\n");
}

function indentJson(value, indent) {
  return JSON.stringify(value, null, 2).replaceAll("\n", `\n${indent}`);
}

function node(dialect, origin, request) {
  const kind = kindOf(request);
  const lines = [
    'import OpenAI from "openai";',
    "",
    "const client = new OpenAI({",
    `  baseURL: ${JSON.stringify(baseUrlOf(dialect, origin))},`,
    "  apiKey: process.env.OPENMAAS_API_KEY,",
    "});",
    "",
    "async function main() {",
    kind === "completion"
      ? "  const completion = await client.completions.create({"
      : "  const completion = await client.chat.completions.create({",
    `    model: ${JSON.stringify(request.model)},`,
    kind === "completion"
      ? `    prompt: ${JSON.stringify(request.prompt)},`
      : `    messages: ${indentJson(request.messages, "    ")},`,
  ];
  for (const [name, value] of Object.entries(request.params || {})) {
    if (isMissing(value)) continue;
    lines.push(`    ${name}: ${indentJson(value, "    ")},`);
  }
  lines.push(`    stream: ${request.stream ? "true" : "false"},`, "  });", "");
  const piece = kind === "completion" ? "chunk.choices[0]?.text" : "chunk.choices[0]?.delta?.content";
  if (request.stream) {
    lines.push(
      "  for await (const chunk of completion) {",
      `    process.stdout.write(${piece} ?? "");`,
      "  }",
      '  process.stdout.write("\\n");',
    );
  } else if (kind === "completion") {
    lines.push("  console.log(completion.choices[0].text);");
  } else {
    lines.push("  console.log(completion.choices[0].message.content);");
  }
  lines.push("}", "", "main();");
  return lines.join("\n");
}

const BUILDERS = { curl, python, node };

// request: {model, messages or prompt, params, stream}; origin: this server's base URL (scheme://host:port).
export function exampleCode(language, dialect, origin, request) {
  return BUILDERS[language](dialect, origin, request);
}
