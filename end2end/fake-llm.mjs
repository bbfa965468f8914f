// A stand-in for an OpenAI-compatible chat endpoint (`POST /v1/chat/completions`, tool calls
// in the real wire format), for the end-to-end suite: no network and no model here. It is not
// scripted per test but follows a few rules, like a small, obedient model:
//   - "order <n> x <product> for <name> at <address>": search_products, get_product on the
//     first product found, then prepare_order for its first variant;
//   - a request for a person ("person", "human"): escalate;
//   - anything else: search_products with the customer's words, then show_products.
// Prices never come from here: the product list and the order summary are rendered by the
// product from its tool results.
import http from 'node:http';

const port = Number(process.env.FAKE_LLM_PORT ?? '3190');
let calls = 0;

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'user') return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  }
  return '';
}

// The tool the model called last, and what it returned.
function lastTool(messages) {
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'tool') return null;
  for (let i = messages.length - 2; i >= 0; i--) {
    const calls = messages[i].tool_calls;
    if (!calls) continue;
    const call = calls.find((c) => c.id === last.tool_call_id);
    if (!call) return null;
    let result;
    try { result = JSON.parse(last.content); } catch { result = {}; }
    return { name: call.function.name, result };
  }
  return null;
}

const ORDER = /order\s+(\d+)\s*x\s+(.+?)\s+for\s+(.+?)\s+at\s+(.+)$/i;

function decide(messages) {
  const said = lastUserText(messages).trim();
  const order = ORDER.exec(said);
  const tool = lastTool(messages);
  if (!tool) {
    if (/\b(person|human)\b/i.test(said)) {
      return { tool: 'escalate', args: { reason: 'The customer asked for a person', summary: said } };
    }
    return { tool: 'search_products', args: { query: order ? order[2] : said } };
  }
  if (tool.result.error) return { text: 'Sorry, I could not do that. Could you say it another way?' };
  if (tool.name === 'search_products') {
    const products = tool.result.products ?? [];
    if (products.length === 0) return { text: 'Sorry, we have nothing like that.' };
    if (order) return { tool: 'get_product', args: { product_id: products[0].product_id } };
    return {
      tool: 'show_products',
      args: { product_ids: products.slice(0, 5).map((p) => p.product_id), message: 'Here is what we have:' },
    };
  }
  if (tool.name === 'get_product' && order) {
    const variant = (tool.result.variants ?? [])[0];
    if (!variant) return { text: 'Sorry, that product cannot be ordered now.' };
    return {
      tool: 'prepare_order',
      args: {
        items: [{ variant_id: variant.variant_id, quantity: Number(order[1]) }],
        name: order[3],
        address: order[4],
      },
    };
  }
  return { text: 'How else can I help?' };
}

function completion(model, decision) {
  calls += 1;
  const message = decision.tool
    ? {
        role: 'assistant',
        content: null,
        tool_calls: [{
          id: `call_${calls}`,
          type: 'function',
          function: { name: decision.tool, arguments: JSON.stringify(decision.args) },
        }],
      }
    : { role: 'assistant', content: decision.text };
  return {
    id: `chatcmpl-e2e-${calls}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: decision.tool ? 'tool_calls' : 'stop', logprobs: null }],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  };
}

http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    res.writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { message: 'Not found', type: 'invalid_request_error', param: null, code: null } }));
    return;
  }
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    let request;
    try { request = JSON.parse(body); } catch {
      res.writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { message: 'Invalid JSON', type: 'invalid_request_error', param: null, code: null } }));
      return;
    }
    const answer = completion(request.model, decide(request.messages ?? []));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
}).listen(port, '127.0.0.1');
