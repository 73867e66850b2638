import OpenAI from 'openai';

const openai = new OpenAI({
  apiKey: process.env.OPENMAAS_API_KEY,
  baseURL: process.env.OPENMAAS_BASE_URL,
  dangerouslyAllowBrowser: true,
});

async function main() {
  const completion = await openai.chat.completions.create({
    messages: [{ role: 'user', content: 'say hello' }],
    model: process.env.OPENMAAS_MODEL, 
  });

  console.log(completion.choices);
  
}

main();
