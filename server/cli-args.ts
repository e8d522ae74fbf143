// The civicrm-bridge command line: its commands, their options and help, parsed with node's
// util.parseArgs (strict: an unknown option or a stray argument is refused in one line).
// `--flag value` and `--flag=value` both work for every option that takes a value.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CliError, UsageError } from './errors.js'

export { CliError, UsageError }

type Options = NonNullable<ParseArgsConfig['options']>

interface Command {
  summary: string
  /** Option lines of the help: [flag, meaning]. */
  optionHelp: [string, string][]
  options: Options
  details?: string
}

export const COMMANDS: Record<string, Command> = {
  migrate: {
    summary: "create or upgrade the bridge's own tables (civibridge_*); CiviCRM's tables are never altered", optionHelp: [], options: {},
  },
  check: { summary: 'verify the CiviCRM tables and columns the bridge needs, and its own tables', optionHelp: [], options: {} },
  serve: {
    summary: 'start the HTTP bridge (HOST, PORT); SIGTERM finishes in-flight requests',
    optionHelp: [],
    options: {},
    details: 'Refuses to start, in one line with exit status 1, when the schema check fails or the port is taken.',
  },
  demo: {
    summary: 'build a demo database, start the bridge, send signed registrations, print the links',
    optionHelp: [],
    options: {},
    details: 'Uses DEMO_DB_SERVER_URL (default mysql://root@127.0.0.1:3306/test); needs no other configuration.',
  },
  sync: {
    summary: 'Synchronize Users to Contacts',
    optionHelp: [
      ['--dry-run', 'count what would be done, write nothing'],
      ['--json', 'print the result (with the skipped users) as one JSON document'],
      ['--batch-size N', 'users per chunk (default 1000)'],
    ],
    options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, 'batch-size': { type: 'string' } },
    details: 'The last line is CiviCRM\'s message. Progress goes to stderr: a bar on a terminal, a line every few seconds otherwise.',
  },
  prune: {
    summary: 'delete event records and used tokens older than N days; run it daily',
    optionHelp: [['--older-than-days N', 'default 30, at least 7 (the plugin retries an event for about three days)']],
    options: { 'older-than-days': { type: 'string' } },
  },
}

export const USAGE = `usage: civicrm-bridge <command> [options]

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`).join('\n')}

options: -h, --help (also after a command: civicrm-bridge sync --help), --version
configuration: environment variables, see README.md "Configuration"`

export function commandHelp (name: string): string {
  const c = COMMANDS[name]
  const flags = [...c.optionHelp, ['-h, --help', 'show this help']]
  return `usage: civicrm-bridge ${name}${c.optionHelp.map(([f]) => ` [${f}]`).join('')}

${c.summary}.${c.details ? `\n${c.details}` : ''}

options:
${flags.map(([f, m]) => `  ${f.padEnd(20)} ${m}`).join('\n')}`
}

/** A command's options; throws UsageError naming the bad argument. `help` is true for -h/--help. */
export function parseCommandArgs (name: string, args: string[]): Record<string, string | boolean | undefined> & { help?: boolean } {
  const see = `see civicrm-bridge ${name} --help`
  try {
    const options: Options = { ...COMMANDS[name].options, help: { type: 'boolean', short: 'h' } }
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>
  } catch (err) {
    const e = err as { code?: string, message: string }
    const arg = /'(-[^' ]*)/.exec(e.message)?.[1] ?? /'([^']*)'/.exec(e.message)?.[1]
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${name}: unknown option ${arg}; ${see}`)
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(`${name}: ${arg} ${/does not take/.test(e.message) ? 'takes no value' : 'needs a value'}; ${see}`)
    }
    throw new UsageError(`${name}: unexpected argument ${JSON.stringify(arg)}; ${see}`)
  }
}
