//! Topic names, topic filters, shared subscriptions and the subscription trie.
