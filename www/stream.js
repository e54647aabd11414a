// A Server-Sent Events subscription that survives the daemon restarting.
//
// EventSource retries by itself only while the server keeps answering; a
// refused connection or a 503 during start-up closes it for good. So on any
// error the source is closed and reopened here with a growing delay, asking
// for the events after the last one seen (?after_id=), which the daemon
// replays from its store: nothing is lost across a restart.

import { withToken } from './api.js';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;

export class EventStream {
  // path: "/events" or "/runs/<id>/events"; handlers: {type: fn(data, id)};
  // afterId: the last event already reflected on the page (-1: live only);
  // onStatus(state): "live" | "reconnecting"; onResume(): called when the
  // stream is back after an outage, for the caller to reload what it shows.
  constructor(path, handlers, { afterId = -1, onStatus = () => {}, onResume = () => {} } = {}) {
    this.path = path;
    this.handlers = handlers;
    this.lastId = afterId;
    this.onStatus = onStatus;
    this.onResume = onResume;
    this.delay = FIRST_DELAY_MS;
    this.broken = false;
    this.closed = false;
    this.timer = 0;
    this.source = null;
    this.open();
  }

  open() {
    const url = this.lastId >= 0 ? `${this.path}?after_id=${this.lastId}` : this.path;
    const es = new EventSource(withToken(url));
    this.source = es;
    es.onopen = () => {
      this.delay = FIRST_DELAY_MS;
      this.onStatus('live');
      if (this.broken) {
        this.broken = false;
        this.onResume();
      }
    };
    es.onerror = () => {
      if (this.closed || this.source !== es) return;
      es.close();
      this.broken = true;
      this.onStatus('reconnecting');
      this.timer = setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    };
    for (const type of Object.keys(this.handlers)) {
      es.addEventListener(type, (e) => this.dispatch(type, e));
    }
  }

  dispatch(type, e) {
    const id = Number(e.lastEventId);
    if (Number.isFinite(id) && id > 0) {
      if (id <= this.lastId) return; /* already seen before a reconnect */
      this.lastId = id;
    }
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    this.handlers[type](data, id);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
  }
}
