// The command line containerd gives a shim v2 binary (Go flag syntax):
//   -namespace NS -address ADDR -publish-binary BIN -id ID [-debug] [-bundle DIR] start|delete
export interface ShimFlags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  socket: string;
  debug: boolean;
  version: boolean;
  info: boolean;
  action: string;
}

const STRING_FLAGS: Record<string, keyof ShimFlags> = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
  socket: 'socket',
};

export function parseFlags(argv: string[]): ShimFlags {
  const f: ShimFlags = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', socket: '', debug: false, version: false, info: false, action: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      if (f.action) throw new Error(`unexpected argument "${a}" after action "${f.action}"`);
      f.action = a;
      continue;
    }
    let name = a.replace(/^--?/, '');
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name === 'debug' || name === 'v' || name === 'version' || name === 'info') {
      if (name === 'debug') f.debug = value === undefined || value === 'true';
      else if (name === 'info') f.info = true;
      else f.version = true;
      continue;
    }
    const key = STRING_FLAGS[name];
    if (!key) throw new Error(`unknown flag -${name}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`flag -${name} needs a value`);
    }
    (f as unknown as Record<string, string>)[key] = value;
  }
  return f;
}
