// The playground's request settings, built from the server's description (/api/console/parameters):
// each field's range, step, preset and the API's own refusal message, so the form refuses exactly
// what the API would, in its words, before anything is sent.

import { element } from "./format.js";

// How Python prints a number the API parsed: a float field shows 5 as "5.0", an integer as "5".
function pythonNumber(value, integer) {
  if (integer || !Number.isInteger(value)) return String(value);
  return value.toFixed(1);
}

function numberError(spec, value) {
  if (Number.isNaN(value)) return `${spec.name}: Input should be a valid number`;
  if (spec.type === "integer" && !Number.isInteger(value)) {
    return `${spec.name}: Input should be a valid integer, got a number with a fractional part`;
  }
  const below = spec.min !== null && spec.min !== undefined && (spec.min_exclusive ? value <= spec.min : value < spec.min);
  const above = spec.max !== null && spec.max !== undefined && value > spec.max;
  if (!below && !above) return null;
  const template = below && spec.message_below ? spec.message_below : spec.message;
  return template.replace("{value}", pythonNumber(value, spec.type === "integer"));
}

function inputId(name) {
  return `param-${name.replaceAll("_", "-")}`;
}

function numberField(spec) {
  const attrs = { id: inputId(spec.name), name: spec.name, type: "number", step: String(spec.step) };
  if (spec.preset !== null && spec.preset !== undefined) attrs.value = String(spec.preset);
  if (spec.api_default !== null && spec.api_default !== undefined) attrs.placeholder = `API default: ${spec.api_default}`;
  const input = element("input", { attrs });
  // The browser's own range check would refuse silently; the form says the API's words instead.
  input.dataset.min = spec.min ?? "";
  input.dataset.max = spec.max ?? "";
  return input;
}

function textField(spec) {
  const attrs = { id: inputId(spec.name), name: spec.name, rows: "2", spellcheck: "false" };
  if (spec.type === "logit_bias") attrs.placeholder = '{"1234": -100}';
  return element("textarea", { attrs });
}

function responseFormatField(spec) {
  const select = element(
    "select",
    { attrs: { id: inputId(spec.name), name: spec.name } },
    [
      element("option", { text: "None (text)", attrs: { value: "text" } }),
      element("option", { text: "JSON object", attrs: { value: "json_object" } }),
      element("option", { text: "JSON schema", attrs: { value: "json_schema" } }),
    ],
  );
  return select;
}

// One labelled field: its control, a hint and a place for the refusal.
function fieldOf(spec) {
  let control;
  if (spec.type === "number" || spec.type === "integer") control = numberField(spec);
  else if (spec.type === "response_format") control = responseFormatField(spec);
  else control = textField(spec);
  const error = element("span", { className: "field-error error small", attrs: { id: `${control.id}-error`, role: "alert" } });
  const hint = element("span", { text: spec.hint || "", className: "muted small", attrs: { id: `${control.id}-hint` } });
  control.setAttribute("aria-describedby", `${control.id}-hint ${control.id}-error`);
  // The label names the control alone (the hint and the refusal are its description).
  const label = element("div", { className: "field" }, [
    element("label", { text: spec.label, attrs: { for: control.id } }),
    control,
    hint,
    error,
  ]);
  const parts = [label];
  if (spec.type === "response_format") {
    const schema = element("textarea", {
      attrs: {
        id: "param-json-schema",
        rows: "6",
        spellcheck: "false",
        "aria-describedby": "param-json-schema-error",
        placeholder: '{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}',
      },
    });
    const schemaError = element("span", { className: "field-error error small", attrs: { id: "param-json-schema-error", role: "alert" } });
    const schemaLabel = element("div", { className: "field schema-editor" }, [
      element("label", { text: "JSON schema", attrs: { for: "param-json-schema" } }),
      schema,
      schemaError,
    ]);
    schemaLabel.hidden = true;
    control.addEventListener("change", () => {
      schemaLabel.hidden = control.value !== "json_schema";
    });
    parts.push(schemaLabel);
  }
  return parts;
}

// The settings form: fields built into primary (always shown) and more (the rest) from specs.
export class ParameterForm {
  constructor(specs, primary, more) {
    this.specs = specs;
    this.fields = new Map();
    for (const spec of specs) {
      const target = spec.primary ? primary : more;
      target.append(...fieldOf(spec));
      this.fields.set(spec.name, document.getElementById(inputId(spec.name)));
    }
    this.schema = document.getElementById("param-json-schema");
  }

  inputs() {
    return [...this.fields.values(), this.schema].filter(Boolean);
  }

  input(name) {
    return this.fields.get(name);
  }

  spec(name) {
    return this.specs.find((spec) => spec.name === name);
  }

  // The form's presets, then the model's defaults (a model without its own gets the presets).
  applyDefaults(defaults) {
    for (const spec of this.specs) {
      if (spec.type !== "number" && spec.type !== "integer") continue;
      const value = defaults && defaults[spec.name] !== undefined && defaults[spec.name] !== null ? defaults[spec.name] : spec.preset;
      this.fields.get(spec.name).value = value === null || value === undefined ? "" : String(value);
    }
  }

  // {values: {name: wire value} of the fields set, errors: [{name, message}]}; skip: names left out.
  read(skip = new Set()) {
    const values = {};
    const errors = [];
    for (const spec of this.specs) {
      if (skip.has(spec.name)) continue;
      const input = this.fields.get(spec.name);
      const raw = input.value.trim();
      if (spec.type === "number" || spec.type === "integer") {
        if (raw === "") continue;
        const value = Number(raw);
        const message = numberError(spec, value);
        if (message) errors.push({ name: spec.name, message });
        else values[spec.name] = value;
      } else if (spec.type === "strings") {
        const lines = input.value.split("\n").filter((line) => line !== "");
        if (lines.length) values.stop = lines;
      } else if (spec.type === "logit_bias") {
        if (raw === "") continue;
        let bias;
        try {
          bias = JSON.parse(raw);
        } catch {
          errors.push({ name: spec.name, message: "logit_bias must be a JSON object of token id to bias" });
          continue;
        }
        if (bias === null || typeof bias !== "object" || Array.isArray(bias)) {
          errors.push({ name: spec.name, message: "logit_bias must be a JSON object of token id to bias" });
          continue;
        }
        const bad = Object.entries(bias).find(([token]) => !/^-?\d+$/.test(token.trim()));
        if (bad) {
          errors.push({ name: spec.name, message: `logit_bias keys must be token ids, got '${bad[0]}'` });
          continue;
        }
        const outOfRange = Object.entries(bias).find(([, value]) => typeof value !== "number" || value < spec.min || value > spec.max);
        if (outOfRange) {
          errors.push({ name: spec.name, message: spec.message.replace("{token}", outOfRange[0].trim()) });
          continue;
        }
        values.logit_bias = bias;
      } else if (spec.type === "response_format") {
        if (input.value === "json_object") values.response_format = { type: "json_object" };
        if (input.value === "json_schema") {
          let schema;
          try {
            schema = JSON.parse(this.schema.value);
          } catch {
            errors.push({ name: "json_schema", message: "The JSON schema is not valid JSON" });
            continue;
          }
          if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
            errors.push({ name: "json_schema", message: spec.message });
            continue;
          }
          values.response_format = { type: "json_schema", json_schema: { name: "answer", schema } };
        }
      }
    }
    return { values, errors };
  }

  // Shows each refusal beside its field (and clears the others); returns whether all are fine.
  showErrors(errors) {
    for (const input of this.inputs()) {
      const box = document.getElementById(`${input.id}-error`);
      const found = errors.find((error) => inputId(error.name) === input.id);
      if (box) box.textContent = found ? found.message : "";
      input.setAttribute("aria-invalid", found ? "true" : "false");
    }
    return errors.length === 0;
  }

  // What a conversation keeps of the form: the raw field values, by name.
  save() {
    const saved = {};
    for (const [name, input] of this.fields) saved[name] = input.value;
    if (this.schema) saved.json_schema = this.schema.value;
    return saved;
  }

  restore(saved) {
    if (!saved) return;
    for (const [name, input] of this.fields) {
      if (saved[name] === undefined || saved[name] === null) continue;
      input.value = Array.isArray(saved[name]) ? saved[name].join("\n") : String(saved[name]);
      input.dispatchEvent(new Event("change"));
    }
    if (this.schema && typeof saved.json_schema === "string") this.schema.value = saved.json_schema;
  }
}
