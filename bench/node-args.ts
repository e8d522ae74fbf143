// The Node arguments a bench gives the process it measures: a V8 CPU profile into `cpuProfDir`
// (written when the process exits), then `flags` as given on the bench's command line.
export function nodeArgs (cpuProfDir: string | undefined, flags = ''): string[] {
  return [...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), ...flags.split(' ').filter(Boolean)]
}
