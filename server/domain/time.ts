// The site's time zone: CiviCRM writes its datetime columns (civicrm_log.modified_date) in the
// site's local time (it sets MySQL's session time zone to PHP's). The bridge's session stays
// UTC (TIMESTAMP columns store instants whatever the zone; the bridge's own tables are UTC),
// and local times are written as wall-clock strings.

/** An IANA zone (CIVICRM_TIME_ZONE=Europe/Berlin) or a fixed offset (+02:00), in minutes east of UTC. */
export type SiteTimeZone = { name: string } | { offsetMinutes: number }

/** Parses CIVICRM_TIME_ZONE; null when it is neither an IANA zone this Node knows nor ±HH:MM. */
export function parseTimeZone (value: string): SiteTimeZone | null {
  const offset = /^([+-])(\d{2}):(\d{2})$/.exec(value)
  if (offset) {
    const minutes = Number(offset[2]) * 60 + Number(offset[3])
    return Number(offset[2]) <= 14 && Number(offset[3]) < 60 ? { offsetMinutes: offset[1] === '-' ? -minutes : minutes } : null
  }
  try {
    return { name: new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone }
  } catch {
    return null
  }
}

const pad = (n: number) => String(n).padStart(2, '0')

/** 'YYYY-MM-DD HH:MM:SS' of an instant in the zone. */
export function localTimeIn (zone: SiteTimeZone): (at: Date) => string {
  if ('offsetMinutes' in zone) {
    return (at) => new Date(at.getTime() + zone.offsetMinutes * 60_000).toISOString().slice(0, 19).replace('T', ' ')
  }
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone.name,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  })
  return (at) => {
    const p = Object.fromEntries(format.formatToParts(at).map((x) => [x.type, x.value]))
    return `${p.year}-${p.month}-${p.day} ${pad(Number(p.hour))}:${p.minute}:${p.second}`
  }
}
