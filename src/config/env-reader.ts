/**
 * Reading settings from the environment: each reader takes a variable's name, its default and its
 * bounds, and records a problem (naming the variable) instead of throwing, so that parseConfig
 * (config.ts) reports every bad setting at once.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export function isOneOf<T extends string>(value: string, allowed: readonly T[]): value is T {
  return (allowed as readonly string[]).includes(value);
}

export const kibibyte = 1024;
export const mebibyte = 1024 * kibibyte;
export const gibibyte = 1024 * mebibyte;

const byteUnits: Record<string, number> = {
  "": 1,
  b: 1,
  k: kibibyte,
  kb: kibibyte,
  kib: kibibyte,
  m: mebibyte,
  mb: mebibyte,
  mib: mebibyte,
  g: gibibyte,
  gb: gibibyte,
  gib: gibibyte,
};

/**
 * Parses a size the way Docker's `--memory` does: a number with an optional binary unit
 * (`512m`, `1g`, `65536`). Returns undefined for anything else.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = byteUnits[(match[2] ?? "").toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

export class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly errors: string[],
  ) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.raw(name) ?? fallback;
    if (isOneOf(value, allowed)) return value;
    this.errors.push(`${name}=${value} is not one of ${allowed.join(", ")}`);
    return fallback;
  }

  imageName(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    // A reference the engine accepts: lowercase repository path, optional tag or digest.
    if (!/^[a-z0-9][a-z0-9._\-/:@]*$/.test(value) || value.length > 255) {
      this.errors.push(`${name}=${value} is not a valid image reference`);
    }
    return value;
  }

  list<T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] {
    const value = this.raw(name) ?? fallback;
    const items = value
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
    const known: T[] = [];
    for (const item of items) {
      if (isOneOf(item, allowed)) known.push(item);
      else this.errors.push(`${name}: ${item} is not one of ${allowed.join(", ")}`);
    }
    if (items.length === 0) this.errors.push(`${name} must name at least one of ${allowed.join(", ")}`);
    return known;
  }

  origins(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const origins = value
      .split(",")
      .map((origin) => origin.trim())
      .filter((origin) => origin !== "");
    for (const origin of origins) {
      if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
        this.errors.push(`${name}: ${origin} is not an origin (scheme://host[:port], or *)`);
      }
    }
    return origins;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (["1", "true", "yes", "on"].includes(lower)) return true;
    if (["0", "false", "no", "off"].includes(lower)) return false;
    this.errors.push(`${name}=${value} is not a boolean (use true or false)`);
    return fallback;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      this.errors.push(`${name}=${value} must be a number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
      this.errors.push(`${name}=${value} must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  byteSize(name: string, fallback: string, min: number, max: number): number {
    const value = this.raw(name) ?? fallback;
    const parsed = parseByteSize(value);
    if (parsed === undefined || parsed < min || parsed > max) {
      this.errors.push(`${name}=${value} must be a size from ${min} to ${max} bytes (a number with an optional unit k, m or g)`);
      return parseByteSize(fallback) ?? min;
    }
    return parsed;
  }
}
