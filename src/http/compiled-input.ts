import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';

/**
 * A compiled validator for the common case of a zod schema on the hot path. `asSent` describes the
 * input exactly as clients send it (no defaults, no transforms, so zod can express it as a JSON
 * Schema, which Ajv compiles); `full` is what the route accepts, and must give the same output for
 * any value `asSent` accepts (a spec checks it). The returned function gives that output (the
 * schema's fields only, in its order, like zod's), or undefined: the caller then asks `full`, which
 * also writes the messages of bad input.
 *
 * Why: zod parsing the update check's device info was an eighth of the check's CPU (wrk, one core);
 * the compiled validator does the same checks in about a third of the time, allocating only the output.
 */
export function compileAsSent<Full extends z.ZodObject>(
  asSent: z.ZodObject,
  full: Full,
): (value: unknown) => z.output<Full> | undefined {
  // String lengths count code points, as zod's max() does (a spec checks both agree).
  const ajv = new Ajv2020({ strict: true, allErrors: false });
  const validate = ajv.compile(z.toJSONSchema(asSent, { io: 'input', unrepresentable: 'throw' }));
  const keys = Object.keys(full.shape);
  if (keys.join() !== Object.keys(asSent.shape).join()) {
    throw new Error('compileAsSent: both schemas must have the same fields, in the same order');
  }
  return (value) => {
    if (!validate(value)) return undefined;
    const input = value as Record<string, unknown>;
    // Only the schema's fields, as zod keeps them: a client's extra fields (install_source) are
    // not carried along, in memory or anywhere else.
    const output: Record<string, unknown> = {};
    for (const key of keys) {
      const field = input[key];
      if (field !== undefined) output[key] = field;
    }
    return output as z.output<Full>;
  };
}
