// The demo shop: which services exist, where they listen, whom they call, which ones carry OpenTelemetry,
// and what each endpoint does. Plain JavaScript: each service runs as its own node process with no loader.
//
//   users → frontend ─┬→ catalog ────────→ db
//                     ├→ cart ───────────→ db
//                     ├→ recommendation ─→ catalog
//                     ├→ currency
//                     └→ checkout ─┬→ cart
//                                  ├→ shipping ─→ currency
//                                  ├→ currency
//                                  └→ payment
//
// frontend, catalog, cart and checkout send OpenTelemetry traces, metrics and logs; recommendation, currency,
// payment, shipping and the db are seen only by the eBPF collector. Handlers get a request and a context
// (framework.mjs): ctx.call(peer, method, path, body?, options?), ctx.kv(command), ctx.work(ms), ctx.bad (this
// process is a bad deploy), ctx.random(). They return { status?, body } or throw an HttpError.

/** @typedef {{ name: string, kind: 'http' | 'kv', port: number, otel: boolean, version: string, calls: string[], description: string }} ServiceDef */

/** @type {readonly ServiceDef[]} */
export const SERVICES = [
  { name: 'frontend', kind: 'http', port: 8000, otel: true, version: '2.4.1', calls: ['catalog', 'cart', 'recommendation', 'currency', 'checkout'], description: 'web shop front: pages, cart and checkout for users' },
  { name: 'catalog', kind: 'http', port: 8001, otel: true, version: '1.7.0', calls: ['db'], description: 'products and stock' },
  { name: 'cart', kind: 'http', port: 8002, otel: true, version: '3.1.2', calls: ['db'], description: 'shopping carts, kept in the db' },
  { name: 'checkout', kind: 'http', port: 8003, otel: true, version: '1.3.0', calls: ['cart', 'shipping', 'currency', 'payment'], description: 'places orders' },
  { name: 'recommendation', kind: 'http', port: 8004, otel: false, version: '0.9.4', calls: ['catalog'], description: 'products you may like' },
  { name: 'currency', kind: 'http', port: 8005, otel: false, version: '1.0.3', calls: [], description: 'exchange rates and conversion' },
  { name: 'payment', kind: 'http', port: 8006, otel: false, version: '2.0.1', calls: [], description: 'charges cards' },
  { name: 'shipping', kind: 'http', port: 8007, otel: false, version: '1.2.0', calls: ['currency'], description: 'shipping quotes and shipments' },
  { name: 'db', kind: 'kv', port: 6379, otel: false, version: '7.0.0', calls: [], description: 'key-value store over TCP (GET, SET, DEL, INCR, PING)' },
];

export const PRODUCTS = [
  ['Vintage Typewriter', 67.99, 'home'], ['Film Camera', 129.5, 'photo'], ['Loafers', 38.0, 'fashion'],
  ['Sunglasses', 19.99, 'fashion'], ['Tank Top', 18.99, 'fashion'], ['Watch', 109.99, 'accessories'],
  ['Candle Holder', 18.99, 'home'], ['Salt & Pepper Shakers', 18.49, 'kitchen'], ['Bamboo Glass Jar', 5.49, 'kitchen'],
  ['Mug', 8.99, 'kitchen'], ['Hairdryer', 24.99, 'beauty'], ['City Bike', 789.5, 'sports'],
].map(([name, priceUsd, category], i) => ({ id: i + 1, name, priceUsd, category }));

const RATES = { USD: 1, EUR: 0.92, GBP: 0.79, JPY: 151.3, CHF: 0.88, CAD: 1.36 };

const round2 = (x) => Math.round(x * 100) / 100;
const sumUsd = (items) => round2(items.reduce((s, i) => s + i.priceUsd * i.quantity, 0));

// ------------------------------------------------------------------------------------------------ frontend

const frontend = {
  'GET /': async (req, ctx) => {
    const currency = req.query.currency ?? 'USD';
    const products = (await ctx.call('catalog', 'GET', '/products', undefined, { fresh: true })).body;
    const recs = await ctx.call('recommendation', 'GET', `/recommendations?user=${req.query.user ?? 'anonymous'}`, undefined, { tolerate: true, route: '/recommendations' });
    const rates = currency === 'USD' ? RATES : (await ctx.call('currency', 'GET', '/rates')).body;
    await ctx.work(2);
    return { body: { products: products.slice(0, 8).map((p) => ({ ...p, price: round2(p.priceUsd * (rates[currency] ?? 1)), currency })), recommended: recs?.body ?? [] } };
  },
  'GET /product/:id': async (req, ctx) => {
    const currency = req.query.currency ?? 'USD';
    // A bad release asks for recommendations first and reloads the whole catalog on every product page.
    if (ctx.bad) await ctx.call('recommendation', 'GET', `/recommendations?product=${req.params.id}`, undefined, { tolerate: true, route: '/recommendations' });
    if (ctx.bad) await ctx.call('catalog', 'GET', '/products');
    const product = (await ctx.call('catalog', 'GET', `/products/${req.params.id}`, undefined, { fresh: true, route: '/products/:id' })).body;
    const recs = ctx.bad ? undefined : await ctx.call('recommendation', 'GET', `/recommendations?product=${req.params.id}`, undefined, { tolerate: true, route: '/recommendations' });
    let price = product.priceUsd;
    if (currency !== 'USD') price = (await ctx.call('currency', 'GET', `/convert?from=USD&to=${currency}&amount=${product.priceUsd}`, undefined, { route: '/convert' })).body.amount;
    await ctx.work(1);
    return { body: { ...product, price, currency, recommended: recs?.body ?? [] } };
  },
  'POST /cart/:user': async (req, ctx) => {
    const { productId, quantity = 1 } = req.body ?? {};
    const product = (await ctx.call('catalog', 'GET', `/products/${Number(productId)}`, undefined, { fresh: true, route: '/products/:id' })).body;
    const res = await ctx.call('cart', 'POST', `/carts/${req.params.user}/items`, { productId: product.id, name: product.name, priceUsd: product.priceUsd, quantity }, { route: '/carts/:user/items' });
    return { status: 201, body: res.body };
  },
  'GET /cart/:user': async (req, ctx) => {
    const currency = req.query.currency ?? 'USD';
    const items = (await ctx.call('cart', 'GET', `/carts/${req.params.user}`, undefined, { route: '/carts/:user' })).body;
    let total = sumUsd(items);
    if (currency !== 'USD' && items.length > 0) total = (await ctx.call('currency', 'GET', `/convert?from=USD&to=${currency}&amount=${total}`, undefined, { route: '/convert' })).body.amount;
    return { body: { items, total, currency } };
  },
  'POST /checkout/:user': async (req, ctx) => {
    const res = await ctx.call('checkout', 'POST', '/orders', { user: req.params.user, currency: req.body?.currency ?? 'USD', country: req.body?.country ?? 'US' });
    return { status: res.status, body: res.body };
  },
};

// ------------------------------------------------------------------------------------------------ catalog

async function loadProducts(ctx) {
  const raw = await ctx.kv('GET catalog:products');
  if (raw) return JSON.parse(raw);
  // An empty db (first start, or after it restarted): seed it, as a migration would.
  await ctx.kv(`SET catalog:products ${JSON.stringify(PRODUCTS)}`);
  for (const p of PRODUCTS) await ctx.kv(`SET stock:${p.id} ${20 + ((p.id * 37) % 80)}`);
  return PRODUCTS;
}

const catalog = {
  'GET /products': async (req, ctx) => {
    const products = await loadProducts(ctx);
    await ctx.work(1);
    return { body: req.query.category ? products.filter((p) => p.category === req.query.category) : products };
  },
  'GET /products/:id': async (req, ctx) => {
    const id = Number(req.params.id);
    // A bad release reads every product's stock one by one (N+1 queries) before looking at the one asked for.
    if (ctx.bad) for (const p of PRODUCTS.slice(0, 6)) await ctx.kv(`GET stock:${p.id}`);
    const products = await loadProducts(ctx);
    const product = products.find((p) => p.id === id);
    if (!product) ctx.fail(404, `no product ${req.params.id}`);
    const stock = Number(await ctx.kv(`GET stock:${id}`)) || 0;
    return { body: { ...product, stock } };
  },
};

// ------------------------------------------------------------------------------------------------ cart

const cart = {
  'GET /carts/:user': async (req, ctx) => {
    const raw = await ctx.kv(`GET cart:${req.params.user}`);
    return { body: raw ? JSON.parse(raw) : [] };
  },
  'POST /carts/:user/items': async (req, ctx) => {
    const item = req.body ?? {};
    if (!item.productId) ctx.fail(400, 'productId is required');
    const key = `cart:${req.params.user}`;
    // A bad release writes before it reads (the item replaces the cart) and counts twice.
    if (ctx.bad) await ctx.kv(`SET ${key} ${JSON.stringify([item])}`);
    const raw = await ctx.kv(`GET ${key}`);
    const items = raw ? JSON.parse(raw) : [];
    const same = items.find((i) => i.productId === item.productId);
    if (same) same.quantity += item.quantity;
    else items.push(item);
    await ctx.kv(`SET ${key} ${JSON.stringify(items.slice(-20))}`);
    await ctx.kv('INCR stats:cart_adds 1');
    if (ctx.bad) await ctx.kv('INCR stats:cart_adds 1');
    return { status: 201, body: { items: items.length } };
  },
  'DELETE /carts/:user': async (req, ctx) => {
    await ctx.kv(`DEL cart:${req.params.user}`);
    return { body: { ok: true } };
  },
};

// ------------------------------------------------------------------------------------------------ checkout

const checkout = {
  'POST /orders': async (req, ctx) => {
    const { user, currency = 'USD', country = 'US' } = req.body ?? {};
    if (!user) ctx.fail(400, 'user is required');
    const items = (await ctx.call('cart', 'GET', `/carts/${user}`, undefined, { route: '/carts/:user' })).body;
    if (items.length === 0) ctx.fail(400, 'the cart is empty');
    const orderId = `o-${Date.now().toString(36)}-${Math.floor(ctx.random() * 1e6).toString(36)}`;
    let shippingUsd;
    let charge;
    if (ctx.bad) {
      // A bad release charges before it knows the shipping cost, then charges the shipping separately.
      charge = await ctx.call('payment', 'POST', '/charge', { orderId, amount: sumUsd(items), currency: 'USD', card: `4111-${user}` });
      shippingUsd = (await ctx.call('shipping', 'POST', '/quote', { items, country })).body.costUsd;
      await ctx.call('payment', 'POST', '/charge', { orderId: `${orderId}-s`, amount: shippingUsd, currency: 'USD', card: `4111-${user}` });
    } else {
      shippingUsd = (await ctx.call('shipping', 'POST', '/quote', { items, country })).body.costUsd;
    }
    const totalUsd = round2(sumUsd(items) + shippingUsd);
    const total = currency === 'USD' ? totalUsd : (await ctx.call('currency', 'GET', `/convert?from=USD&to=${currency}&amount=${totalUsd}`, undefined, { route: '/convert' })).body.amount;
    if (!ctx.bad) charge = await ctx.call('payment', 'POST', '/charge', { orderId, amount: total, currency, card: `4111-${user}` });
    if (charge.status === 402) return { status: 402, body: { error: 'payment declined', orderId } };
    const shipment = (await ctx.call('shipping', 'POST', '/shipments', { orderId, items, country })).body;
    await ctx.call('cart', 'DELETE', `/carts/${user}`, undefined, { route: '/carts/:user' });
    await ctx.work(2);
    return { body: { orderId, total, currency, transactionId: charge.body.transactionId, trackingId: shipment.trackingId } };
  },
};

// ------------------------------------------------------------------------------------------------ recommendation, currency, payment, shipping

const recommendation = {
  'GET /recommendations': async (req, ctx) => {
    const products = (await ctx.call('catalog', 'GET', '/products', undefined, { fresh: true })).body;
    const exclude = Number(req.query.product) || 0;
    const pool = products.filter((p) => p.id !== exclude);
    const picked = [];
    while (picked.length < 4 && pool.length > 0) picked.push(pool.splice(Math.floor(ctx.random() * pool.length), 1)[0]);
    // A bad release looks every pick up again, one call each.
    if (ctx.bad) for (const p of picked) await ctx.call('catalog', 'GET', `/products/${p.id}`, undefined, { fresh: true, route: '/products/:id' });
    await ctx.work(3);
    return { body: picked.map((p) => p.id) };
  },
};

function convert(from, to, amount, ctx) {
  if (!(from in RATES) || !(to in RATES)) ctx.fail(400, `unknown currency ${from in RATES ? to : from}`);
  return round2((Number(amount) / RATES[from]) * RATES[to]);
}

const currency = {
  'GET /rates': async (_req, ctx) => {
    await ctx.work(1);
    return { body: RATES };
  },
  'GET /convert': async (req, ctx) => {
    await ctx.work(1);
    return { body: { amount: convert(req.query.from ?? 'USD', req.query.to ?? 'USD', req.query.amount ?? 0, ctx), currency: req.query.to ?? 'USD' } };
  },
};

const payment = {
  'POST /charge': async (req, ctx) => {
    const { amount, currency: cur } = req.body ?? {};
    if (!(amount > 0) || !cur) ctx.fail(400, 'amount and currency are required');
    await ctx.work(3, 25 + ctx.random() * 40); // the card network
    if (ctx.random() < 0.02) return { status: 402, body: { error: 'card declined' } };
    return { body: { transactionId: `tx-${Math.floor(ctx.random() * 1e12).toString(36)}`, amount, currency: cur } };
  },
};

const shipping = {
  'POST /quote': async (req, ctx) => {
    const { items = [], country = 'US' } = req.body ?? {};
    const count = items.reduce((s, i) => s + (i.quantity ?? 1), 0);
    let costUsd = round2(4.99 + count * 1.25);
    // A bad release fetches the rates for every quote, domestic ones too.
    if (country !== 'US' || ctx.bad) {
      const rates = (await ctx.call('currency', 'GET', '/rates')).body;
      if (country !== 'US') costUsd = round2(costUsd * 1.8 * (rates.USD ?? 1));
    }
    await ctx.work(2);
    return { body: { costUsd, days: country === 'US' ? 3 : 7 } };
  },
  'POST /shipments': async (req, ctx) => {
    if (!req.body?.orderId) ctx.fail(400, 'orderId is required');
    if (ctx.bad) await ctx.call('currency', 'GET', '/rates'); // and once more per shipment
    await ctx.work(2, 10 + ctx.random() * 20);
    return { status: 201, body: { trackingId: `TRK${Math.floor(ctx.random() * 1e10)}` } };
  },
};

/** Route tables of the HTTP services, by service name. */
export const HANDLERS = { frontend, catalog, cart, checkout, recommendation, currency, payment, shipping };

/** The version a bad deploy of `version` gets: the next minor release. */
export function nextVersion(version) {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return `${major}.${minor + 1}.0`;
}
