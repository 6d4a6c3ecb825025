"""`rag ask` and `rag chat`: from retrieved passages to a verified, cited answer or an abstention.

The modules read in the order the data flows:

1. ``gate``: abstain before the model runs when the evidence cannot answer;
2. ``prompt``: the passages, numbered and quoted, packed into the model's budget;
3. ``reasoning``: a reasoning model's <think> text separated from its answer as it streams;
4. ``verify``: each answer sentence checked against the passages (the Verifier seam, its
   adapters, the claim rules, and ``verify_draft``, the keep-or-abstain decision);
5. ``citation``: the kept sentences cited to the passages that back them, the sources numbered;
6. ``answerer``: the Answerer, which runs 1-5 for one question;
7. ``chat``: a conversation of such questions, follow-ups rewritten to stand alone.
"""

# How `rag chat` rewrites follow-ups (chat.Conversation.standalone): with the generator ("llm",
# falling back to "simple" when its rewrite looks wrong) or by carrying the topic over ("simple").
# Here rather than in chat.py, so that config validation need not import the conversation code.
REWRITES = ("llm", "simple")
