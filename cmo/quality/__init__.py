"""Response quality assessment: relevance, accuracy against sources, factual claims.

composite = 0.4 * relevance + 0.3 * accuracy + 0.3 * factual; threshold 0.8 by default
(LIGHTRAG_QUALITY_THRESHOLD); below 0.6 a LightRAG answer falls back to Perplexity.
"""
