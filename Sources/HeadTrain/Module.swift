public enum HeadTrainModule {}
