// Ready-to-run requests for a chat call in cURL, Python (openai SDK) and Node.js (openai package),
// for the OpenAI-compatible API and the portal API. The model detail page and the
// playground's API tab both show these; the key always comes from OPENMAAS_API_KEY.

export const LANGUAGES = { curl: "cURL", python: "Python", node: "Node.js" };

export const DIALECTS = {
  openai: { path: "/v1", label: "OpenAI-compatible" },
  portal: { path: "/api/v1/ai", label: "Portal" },
};

// Parameter names on the wire: OpenAI's snake_case, the portal's camelCase (seed contract).
const PORTAL_NAMES = {
  max_tokens: "maxTokens",
  top_p: "topP",
  top_k: "topK",
  frequency_penalty: "frequencyPenalty",
  presence_penalty: "presencePenalty",
};
// Not among the OpenAI SDKs' typed parameters: Python passes it in extra_body.
const EXTRA_PARAMS = new Set(["top_k"]);

export function baseUrlOf(dialect, origin) {
  return origin + DIALECTS[dialect].path;
}

export function endpointOf(dialect, origin) {
  return `${baseUrlOf(dialect, origin)}/chat/completions`;
}

// The JSON body of the call; params is {name: value} in OpenAI's names, null values left out.
export function requestBody(dialect, { model, messages, params = {}, stream = false }) {
  const body = { model, messages };
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || Number.isNaN(value)) continue;
    body[dialect === "portal" ? PORTAL_NAMES[name] || name : name] = value;
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
    `curl ${request.stream ? "--no-buffer " : ""}${shellQuote(endpointOf(dialect, origin))} \\`,
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
    "completion = client.chat.completions.create(",
    `    model=${JSON.stringify(request.model)},`,
    `    messages=${pythonValue(request.messages, "    ")},`,
  ];
  const extra = {};
  for (const [name, value] of Object.entries(request.params || {})) {
    if (value === null || value === undefined || Number.isNaN(value)) continue;
    if (EXTRA_PARAMS.has(name)) extra[name] = value;
    else lines.push(`    ${name}=${pythonValue(value, "    ")},`);
  }
  if (Object.keys(extra).length) lines.push(`    extra_body=${pythonValue(extra, "    ")},`);
  lines.push(`    stream=${request.stream ? "True" : "False"},`, ")", "");
  if (request.stream) {
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
  const lines = [
    'import OpenAI from "openai";',
    "",
    "const client = new OpenAI({",
    `  baseURL: ${JSON.stringify(baseUrlOf(dialect, origin))},`,
    "  apiKey: process.env.OPENMAAS_API_KEY,",
    "});",
    "",
    "async function main() {",
    "  const completion = await client.chat.completions.create({",
    `    model: ${JSON.stringify(request.model)},`,
    `    messages: ${indentJson(request.messages, "    ")},`,
  ];
  for (const [name, value] of Object.entries(request.params || {})) {
    if (value === null || value === undefined || Number.isNaN(value)) continue;
    lines.push(`    ${name}: ${JSON.stringify(value)},`);
  }
  lines.push(`    stream: ${request.stream ? "true" : "false"},`, "  });", "");
  if (request.stream) {
    lines.push(
      "  for await (const chunk of completion) {",
      '    process.stdout.write(chunk.choices[0]?.delta?.content ?? "");',
      "  }",
      '  process.stdout.write("\\n");',
    );
  } else {
    lines.push("  console.log(completion.choices[0].message.content);");
  }
  lines.push("}", "", "main();");
  return lines.join("\n");
}

const BUILDERS = { curl, python, node };

// request: {model, messages, params, stream}; origin: this server's base URL (scheme://host:port).
export function exampleCode(language, dialect, origin, request) {
  return BUILDERS[language](dialect, origin, request);
}
