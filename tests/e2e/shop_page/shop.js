// The shop page's own tracking code, written as Segment's docs show it, with Emma as the API host.
// The test opens it as /?writeKey=...&apiHost=127.0.0.1:PORT/v1&strategy=standard|batching.
(function () {
  const params = new URLSearchParams(location.search)
  const writeKey = params.get('writeKey')
  const segmentio = { apiHost: params.get('apiHost'), protocol: 'http' }
  if (params.get('strategy') === 'batching') {
    segmentio.deliveryStrategy = { strategy: 'batching', config: { size: 10, timeout: 300 } }
  }
  // What Segment's CDN would answer for the write key (GET /v1/projects/<writeKey>/settings):
  // there is no such CDN here, so the settings come with the page.
  const cdnSettings = { integrations: { 'Segment.io': { apiKey: writeKey } } }
  const analytics = AnalyticsNext.AnalyticsBrowser.load(
    { writeKey, cdnSettings },
    { integrations: { 'Segment.io': segmentio } }
  )
  const errors = [] // delivery failures analytics.js reports (it never throws them at the caller)
  analytics.on('error', (e) => errors.push({ code: e.code, reason: String(e.reason) }))

  const product = { product_id: 'pixel-9-pro', sku: 'GA05', name: 'Pixel 9 Pro', category: 'smartphones',
    brand: 'Google', price: 1099, currency: 'EUR' }
  analytics.page('Smartphones', 'Pixel 9 Pro')
  analytics.track('Product Viewed', product)
  document.getElementById('add').addEventListener('click', () => {
    analytics.track('Product Added', { ...product, quantity: 1 })
  })
  window.shop = {
    analytics,
    errors,
    // after the shop's login: who the visitor is (the shop knows the customer's id and traits)
    logIn: (userId, traits) => analytics.identify(userId, traits).then(() => analytics.user()).then((u) => u.anonymousId()),
    anonymousId: () => analytics.user().then((u) => u.anonymousId()),
  }
})()
