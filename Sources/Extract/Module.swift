public enum ExtractModule {}
