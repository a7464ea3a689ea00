// The official Node SDK (npm "cronofy") against the emulator: the pattern's four steps as a
// cronofy-node user writes them. Run by tests/fidelity/test_sdk_node.py, which installs the
// package into the git-ignored .sdk/node folder and passes the emulator's details in the
// environment. Prints one JSON object with what each call answered; any SDK error exits 1.
'use strict';

const path = require('path');
const Cronofy = require(path.join(process.env.CRONOFY_NODE_MODULES, 'cronofy'));

const env = process.env;
const api = new Cronofy({
  client_id: env.CLIENT_ID,
  client_secret: env.CLIENT_SECRET,
  access_token: env.ACCESS_TOKEN,
  refresh_token: env.REFRESH_TOKEN
});
api.urls.api = env.EMULATOR_URL; // the SDK builds https://api[-dc].cronofy.com otherwise

async function control (method, route, body) {
  const response = await fetch(env.EMULATOR_URL + '/_emulator' + route, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  if (!response.ok) throw new Error(`control ${route}: ${response.status}`);
  return response.json();
}

async function allPages (first, key, next) {
  const items = [...first[key]];
  let page = first;
  while (page.pages && page.pages.next_page) {
    page = await next(page.pages.next_page);
    items.push(...page[key]);
  }
  return items;
}

async function main () {
  const out = {};
  out.profiles = (await api.profileInformation()).profiles;
  out.calendars = (await api.listCalendars()).calendars;
  const created = await api.createCalendar({ profile_id: env.PROFILE_ID, name: 'Availability' });
  const sub = created.calendar.calendar_id;
  out.sub_calendar = sub;
  out.channel = (await api.createNotificationChannel({
    callback_url: 'http://127.0.0.1:9/cronofy/callback',
    filters: { calendar_ids: [sub] }
  })).channel;
  out.channels = (await api.listNotificationChannels()).channels;

  for (const day of ['25', '26', '27']) {
    await control('POST', `/calendars/${encodeURIComponent(sub)}/events`, {
      summary: 'Available',
      start: `2026-11-${day}T09:00:00Z`,
      end: `2026-11-${day}T11:00:00Z`
    });
  }
  const query = {
    calendar_ids: [sub],
    tzid: 'Europe/London',
    from: '2026-11-20',
    to: '2026-12-01',
    last_modified: '2000-01-01T00:00:00Z',
    include_deleted: true,
    include_moved: true
  };
  const first = await api.readEvents(query);
  out.events = await allPages(first, 'events', (url) => api.readEvents({ next_page: url }));

  for (const event of out.events) {
    await api.upsertAvailablePeriod({
      available_period_id: event.event_uid,
      start: event.start,
      end: event.end
    });
  }
  const periods = await api.listAvailablePeriods({ tzid: 'Europe/London' });
  out.periods = await allPages(periods, 'available_periods',
    (url) => api.listAvailablePeriods({ next_page: url }));
  await api.deleteAvailablePeriods({ available_period_id: out.events[2].event_uid });
  out.periods_after_delete = (await api.listAvailablePeriods({ tzid: 'Europe/London' })).pages.total;

  out.availability = (await api.availability({
    participants: [{
      members: [{ sub: env.SUB, managed_availability: true, calendar_ids: [env.CALENDAR_ID] }],
      required: 'all'
    }],
    required_duration: { minutes: 60 },
    query_periods: [{ start: '2026-11-25T00:00:00Z', end: '2026-11-27T00:00:00Z' }],
    response_format: 'slots'
  })).available_slots;

  await api.updateExternalEvent({
    calendar_id: sub,
    event_uid: out.events[0].event_uid,
    summary: 'Renamed by cronofy-node'
  });
  await api.deleteExternalEvent({ calendar_id: sub, event_uid: out.events[1].event_uid });
  const changed = await api.readEvents(query);
  out.events_after = await allPages(changed, 'events', (url) => api.readEvents({ next_page: url }));

  out.batch = await api.batch({
    batch: [
      { method: 'DELETE', relative_url: `/v1/calendars/${sub}/events`, data: { event_id: '456' } },
      {
        method: 'POST',
        relative_url: `/v1/calendars/${sub}/events`,
        data: { event_id: 'no-summary', start: '2026-11-28T09:00:00Z', end: '2026-11-28T10:00:00Z' }
      }
    ]
  });
  out.userinfo = await api.userInfo();
  out.account = await api.accountInformation();
  out.token = await api.refreshAccessToken();
  out.profiles_after_refresh = (await api.profileInformation()).profiles.length;
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`cronofy-node failed: ${error.statusCode || ''} ${error.message}\n`);
  process.exit(1);
});
