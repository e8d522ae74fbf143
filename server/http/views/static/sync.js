// Live progress of a Synchronize Users to Contacts job on /admin/sync/jobs/<id>: polls
// /v1/admin/sync/jobs/<id> (helmet's CSP forbids inline scripts; served by @fastify/static).
(function () {
  'use strict'
  const box = document.getElementById('sync-job')
  if (!box) return
  const id = box.getAttribute('data-job-id')
  const bar = document.getElementById('sync-progress')
  const status = document.getElementById('sync-status')
  const message = document.getElementById('sync-message')
  const error = document.getElementById('sync-error')
  const after = document.getElementById('sync-after')
  function num (n) { return n.toLocaleString('en-US') }
  function line (j) {
    if (j.status === 'done') return 'Completed: ' + num(j.done) + ' of ' + num(j.total) + ' users checked.'
    if (j.status === 'interrupted') {
      return 'Interrupted after ' + num(j.done) + ' of ' + num(j.total) + ' users; start the synchronization again to resume.'
    }
    const rate = j.rate ? ', ' + num(Math.round(j.rate)) + ' users/s' : ''
    const eta = j.etaS === null ? '' : ', about ' + num(Math.ceil(j.etaS)) + ' s left'
    return num(j.done) + ' of ' + num(j.total) + ' users checked (' + j.percent + '%)' + rate + eta + '.'
  }
  function failure (j) {
    return 'The synchronization stopped after ' + num(j.done) + ' of ' + num(j.total) + ' users because of an error. ' +
      'Start it again: it resumes where it stopped. (Details: ' + j.error + ')'
  }
  function show (j) {
    bar.max = Math.max(j.total, 1)
    bar.value = j.status === 'done' ? bar.max : j.done
    bar.textContent = j.percent + '%'
    box.setAttribute('data-status', j.status)
    if (status.textContent !== line(j)) status.textContent = line(j)
    if (j.status === 'done') {
      message.querySelector('p').textContent = j.message
      message.hidden = false
      after.hidden = false
      // The skipped users are named on the finished page.
      if (j.counts.skipped > 0) window.location.reload()
    }
    if (j.error && j.status !== 'done') {
      error.querySelector('p').textContent = failure(j)
      error.hidden = false
    }
  }
  function poll () {
    fetch('/v1/admin/sync/jobs/' + id, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json() })
      .then(function (j) { show(j); if (j.status === 'running') setTimeout(poll, 500) })
      .catch(function () { setTimeout(poll, 2000) })
  }
  if (box.getAttribute('data-status') === 'running') poll()
})()
